import { AuditService } from '../../src/core/audit/audit.service';
import { sqliteRepositories } from '../../src/core/db/repositories';
import { SqliteCardRepository } from '../../src/core/cards/card.repository';
import { SqliteCustomerRepository } from '../../src/core/customers/customer.repository';
import { createLogger } from '../../src/core/log';
import { DbPolicySource } from '../../src/core/policy/policy.service';
import { SqliteSupportCaseRepository } from '../../src/core/support/support-case.repository';
import { SupportService } from '../../src/core/support/support.service';
import { SqliteVerificationEventsRepository } from '../../src/core/verification/verification-events.repository';
import type { Workstation } from '../../src/core/workstation';
import { value, type TestOperator } from './operators';
import { cardWithCodes } from './verify-service';

// Support cases in tests: an active card with codes whose customer has registered contacts, reported
// by `support`; and the case service as the reissue sees it (its ReissueGate) over the same database.

export const CUSTOMER_EMAIL = 'ada.lovelace@customer.example';
export const CUSTOMER_MOBILE = '+44 7700 900123';

export async function reportedCase(
  ws: Workstation,
  support: TestOperator,
  contacts: { email?: string | null; mobile?: string | null } = {},
): Promise<{ caseId: number; n: string; cardId: number; customerId: number; codes: string[] }> {
  const { card, codes } = await cardWithCodes(ws);
  ws.db
    .prepare('UPDATE customers SET email = ?, mobile = ? WHERE id = ?')
    .run(
      contacts.email === undefined ? CUSTOMER_EMAIL : contacts.email,
      contacts.mobile === undefined ? CUSTOMER_MOBILE : contacts.mobile,
      card.customerId,
    );
  const r = value(await ws.router.dispatch(support.client, 'support:report', { n: card.n, reason: 'lost' })) as {
    case: { id: number };
  };
  return { caseId: r.case.id, n: card.n, cardId: card.id, customerId: card.customerId, codes };
}

/** The support service over the workstation's database and keystore, without channels: the reissue's gate. */
export function supportGate(ws: Workstation, logFile: string): Pick<SupportService, 'verifiedCase' | 'markReissued'> {
  const policies = new DbPolicySource(ws.db);
  return new SupportService({
    cases: new SqliteSupportCaseRepository(ws.db),
    cards: new SqliteCardRepository(ws.db),
    customers: new SqliteCustomerRepository(ws.db),
    events: new SqliteVerificationEventsRepository(ws.db),
    keystore: ws.keystore,
    audit: new AuditService(ws.db),
    atomically: sqliteRepositories(ws.db, new AuditService(ws.db)).atomically,
    policies,
    dualControl: {
      require: () => Promise.reject(new Error('not used by the gate')),
    },
    senders: { email: null, sms: null },
    inboundAddress: null,
    log: createLogger(logFile, false),
  });
}

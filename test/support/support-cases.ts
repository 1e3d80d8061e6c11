import { createLogger } from '../../src/core/log';
import { SupportService } from '../../src/core/support/support.service';
import type { DeskWorkstation } from '../../src/core/workstation';
import { deskSql } from './test-engine';
import { value, type TestOperator } from './operators';
import { cardWithCodes } from './verify-service';

// Support cases in tests: an active card with codes whose customer has registered contacts, reported
// by `support`; and the case service as the reissue sees it (its ReissueGate) over the same database.

export const CUSTOMER_EMAIL = 'ada.lovelace@customer.example';
export const CUSTOMER_MOBILE = '+44 7700 900123';

export async function reportedCase(
  ws: DeskWorkstation,
  support: TestOperator,
  contacts: { email?: string | null; mobile?: string | null } = {},
): Promise<{ caseId: number; n: string; cardId: number; customerId: number; codes: string[] }> {
  const { card, codes } = await cardWithCodes(ws);
  await deskSql(ws).run(
    'UPDATE customers SET email = ?, mobile = ? WHERE id = ?',
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
export async function supportGate(
  ws: DeskWorkstation,
  logFile: string,
): Promise<Pick<SupportService, 'verifiedCase' | 'markReissued'>> {
  const { repos, audit, policies } = deskSql(ws);
  await policies.refresh?.();
  return new SupportService({
    cases: repos.supportCases,
    cards: repos.cards,
    customers: repos.customers,
    events: repos.verificationEvents,
    keystore: ws.keystore,
    audit,
    atomically: repos.atomically,
    policies,
    dualControl: {
      require: () => Promise.reject(new Error('not used by the gate')),
    },
    senders: { email: null, sms: null },
    inboundAddress: null,
    log: createLogger(logFile, false),
  });
}

import { auditChannels } from '../../shared/contract/audit.contract';
import type { systemChannels } from '../../shared/contract/system.contract';
import { mayOpen, type Page, type Role } from '../../shared/roles';
import { AppError } from '../errors';
import type { AuditTrail } from '../audit/audit.service';
import type { HandlersFor } from '../rpc/router';
import type { SystemStore } from './system.store';

/** What each page offers today; a page not yet built says what will come. */
export const PAGE_STATUS: Record<Page, { status: 'ready' | 'planned'; note: string }> = {
  dashboard: { status: 'ready', note: "Live reader state, today's activity and recent events." },
  customers: { status: 'ready', note: 'Customer records: search, create, edit, cards and history.' },
  enroll: { status: 'ready', note: 'Bind a blank card to a customer and personalise it.' },
  mailers: { status: 'ready', note: 'K/N mailers: the queue, printing under dual control, reprints, the print log.' },
  cards: {
    status: 'ready',
    note: 'The card in the reader: whose it is, its state and the next action (activate, unblock, change key).',
  },
  support: {
    status: 'ready',
    note: 'Report a lost, stolen or cloned card (blocked at once), verify the customer with a passkey, reissue.',
  },
  usage: {
    status: 'ready',
    note: 'Codes issued, used and refused, suspicion events and drift, per card, customer and branch.',
  },
  audit: { status: 'ready', note: 'The tamper-evident audit trail.' },
  keys: { status: 'ready', note: 'Keystore, key ceremony and key states.' },
  admin: { status: 'ready', note: 'Operators, roles and policies.' },
  clients: {
    status: 'ready',
    note: 'The bank systems that may call the verification service: API keys, certificates.',
  },
};

export interface SystemInfoSource {
  readonly version: string;
  readonly shell: 'electron' | 'browser';
  readonly dataDir: string;
}

export function systemHandlers(
  store: SystemStore,
  info: SystemInfoSource,
  audit: AuditTrail,
): HandlersFor<typeof systemChannels> {
  const today = () => new Date().toISOString().slice(0, 10);
  return {
    'nav:open': async ({ page }, ctx) => {
      if (!mayOpen(ctx.session.role, page)) {
        await audit.append({
          operatorId: ctx.session.operatorId,
          operator: ctx.session.username,
          role: ctx.session.role,
          action: 'access.denied',
          object: `page:${page}`,
          outcome: 'denied',
        });
        throw new AppError(
          'FORBIDDEN',
          `Your role may not open ${page}. Ask an operator with the right role, or a security officer to change your role.`,
        );
      }
      return { page, ...PAGE_STATUS[page] };
    },
    'system:info': async () => ({
      product: 'OTAC Issuer Workstation',
      version: info.version,
      shell: info.shell,
      schemaVersion: await store.schemaVersion(),
      dataDir: info.dataDir,
    }),
    'dashboard:summary': async (_input, ctx) => {
      const figures = await store.operatorFigures(Date.now());
      if (!mayReadAudit(ctx.session.role)) return figures;
      return { ...figures, audit: await store.auditFigures(today(), 8) };
    },
  };
}

/** The dashboard shows audit figures to exactly the roles audit:query answers, by the same rule. */
function mayReadAudit(role: Role): boolean {
  const access = auditChannels['audit:query'].access;
  return (access as readonly Role[]).includes(role);
}

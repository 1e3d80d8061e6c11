import type { SupportCaseView } from '../../shared/contract/support.contract';
import type { CardRecord } from '../cards/card.repository';
import type { CustomerRecord } from '../customers/customer.repository';
import type { SupportCaseRecord } from './support-case.repository';

// What the Support page shows of a case: where the wizard continues, where a passkey went and until
// when, and the registered contacts masked. Never the passkey, nor its tag.

export interface CaseContext {
  readonly card: CardRecord;
  readonly customer: CustomerRecord;
  readonly newCard: CardRecord | null;
}

export interface ViewSettings {
  readonly now: Date;
  readonly maxFailures: number;
  readonly maxSends: number;
  readonly email: boolean;
  readonly sms: boolean;
  readonly inboundAddress: string | null;
}

const STEP: Record<SupportCaseRecord['state'], SupportCaseView['step']> = {
  reported: 'send',
  passkey_sent: 'enter',
  locked: 'locked',
  verified: 'reissue',
  reissued: 'done',
};

/** "a•••@example.com": enough for the customer to recognise, too little to learn it from the desk. */
export function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.slice(0, 1)}•••@${domain}`;
}

/**
 * " ending 4567": the card's N as a message to the customer names it (nothing for an N too short to
 * show part of). A mailbox is read on phones, shared computers and by whoever it is forwarded to; the
 * full N, with a passkey beside it, is more than the customer needs to recognise their card.
 */
export function cardEnding(n: string): string {
  return n.length > 6 ? ` ending ${n.slice(-4)}` : '';
}

/** "•••• 4567". */
export function maskMobile(mobile: string): string {
  const digits = mobile.replace(/\D/g, '');
  return `•••• ${digits.slice(-4)}`;
}

/**
 * A case waiting for a passkey that may send no more (the policy's passkeyMaxSends) and has none
 * still valid: like a lockout, only the manager's identity procedure moves it on (the repository's
 * recordIdentityProcedure checks the same in its UPDATE).
 */
export function passkeysUsedUp(c: SupportCaseRecord, maxSends: number, now: Date): boolean {
  return (
    (c.state === 'reported' || c.state === 'passkey_sent') &&
    c.passkeySends >= maxSends &&
    (c.passkeyExpiresAt === null || Date.parse(c.passkeyExpiresAt) <= now.getTime())
  );
}

export function caseView(c: SupportCaseRecord, ctx: CaseContext, s: ViewSettings): SupportCaseView {
  const { customer, card } = ctx;
  return {
    id: c.id,
    n: card.n,
    cardState: card.state,
    customerId: customer.id,
    customerName: customer.fullName,
    reason: c.reason,
    state: c.state,
    step: passkeysUsedUp(c, s.maxSends, s.now) ? 'locked' : STEP[c.state],
    note: c.note,
    openedAt: c.openedAt,
    openedBy: c.openedBy,
    passkey:
      c.state === 'passkey_sent' && c.passkeyChannel && c.passkeySentAt && c.passkeyExpiresAt
        ? {
            channel: c.passkeyChannel,
            sentAt: c.passkeySentAt,
            expiresAt: c.passkeyExpiresAt,
            expired: Date.parse(c.passkeyExpiresAt) <= s.now.getTime(),
          }
        : null,
    failures: c.failures,
    maxFailures: s.maxFailures,
    passkeysSent: c.passkeySends,
    maxPasskeys: s.maxSends,
    // The contacts registered when the card was reported: the only ones the passkey goes to.
    contacts: {
      email: c.contactEmail ? maskEmail(c.contactEmail) : null,
      sms: c.contactMobile ? maskMobile(c.contactMobile) : null,
    },
    channels: { email: s.email && c.contactEmail !== null, sms: s.sms && c.contactMobile !== null },
    inboundAddress: c.contactEmail ? s.inboundAddress : null,
    verifiedAt: c.verifiedAt,
    verifiedBy: c.verifiedBy,
    verifiedVia: c.verifiedVia,
    identity:
      c.identityCheckedAt && c.identityDocumentType
        ? {
            documentType: c.identityDocumentType,
            checkedBy: c.identityCheckedBy ?? '',
            approvedBy: c.identityApprovedBy ?? '',
            checkedAt: c.identityCheckedAt,
          }
        : null,
    newCardN: ctx.newCard?.n ?? null,
    reissuedAt: c.reissuedAt,
  };
}

/** What to configure for the channels this desk lacks. */
export function channelsMissing(email: boolean, sms: boolean): string[] {
  const out: string[] = [];
  if (!email)
    out.push('E-mail: set OTAC_SMTP_HOST, OTAC_SMTP_PORT, OTAC_SMTP_TLS and OTAC_MAIL_FROM (docs/support.md).');
  if (!sms) out.push('SMS: set OTAC_SMS_GATEWAY_URL and OTAC_SMS_GATEWAY_TOKEN (docs/support.md).');
  return out;
}

import { z } from 'zod';
import { approvalSchema } from './approval.contract';
import { channel, nonEmpty, text } from './define';
import { cardNSchema } from './keys.contract';

// Support cases (issue 11 items 1, 2, 5; source 004; docs/support.md): a card reported lost, stolen,
// damaged or suspected cloned is blocked at once; the customer proves who they are with a passkey sent
// to their registered second contact; too many wrong passkeys lock the case until a manager's identity
// procedure. The passkey goes one way only: typed at the desk into main. It is never in an answer.

/** Support staff and above (role-rank.ts): the Support page's readers and actors. */
export const SUPPORT_ROLES = ['support', 'manager', 'security_officer'] as const;
/** The identity procedure that lifts a lockout (claims 6 and 35): performed by a manager. */
const PROCEDURE_ROLES = ['manager'] as const;

export const reportReasonSchema = z.enum(['lost', 'stolen', 'damaged', 'suspected_clone']);
export const caseStateSchema = z.enum(['reported', 'passkey_sent', 'locked', 'verified', 'reissued']);
/** Where the wizard continues a case: the step a person does next. */
export const caseStepSchema = z.enum(['send', 'enter', 'locked', 'reissue', 'done']);
export const passkeyChannelSchema = z.enum(['email', 'sms']);
export const identityDocumentSchema = z.enum(['passport', 'identity_card', 'driving_licence', 'residence_permit']);

const caseId = z.number().int().min(1);

export const supportCaseSchema = z.object({
  id: z.number().int(),
  n: text(64),
  cardState: text(40),
  customerId: z.number().int(),
  customerName: text(200),
  reason: reportReasonSchema,
  state: caseStateSchema,
  step: caseStepSchema,
  note: text(500).nullable(),
  openedAt: text(40),
  openedBy: text(80),
  /** The passkey that awaits (never the passkey itself): where it went, when, until when. */
  passkey: z
    .object({ channel: passkeyChannelSchema, sentAt: text(40), expiresAt: text(40), expired: z.boolean() })
    .nullable(),
  failures: z.number().int(),
  maxFailures: z.number().int(),
  /** Passkeys sent since the case was opened or last passed the identity procedure, and how many may be. */
  passkeysSent: z.number().int(),
  maxPasskeys: z.number().int(),
  /** The registered second contacts, masked ("a•••@example.com", "•••• 4567"); null when none is registered. */
  contacts: z.object({ email: text(200).nullable(), sms: text(40).nullable() }),
  /** Whether each channel can be used for this case: registered contact and configured transport. */
  channels: z.object({ email: z.boolean(), sms: z.boolean() }),
  /** Claim 3: the issuer's address the customer may send the passkey to, when the listener runs. */
  inboundAddress: text(200).nullable(),
  verifiedAt: text(40).nullable(),
  verifiedBy: text(80).nullable(),
  verifiedVia: z.enum(['desk', 'email_reply']).nullable(),
  identity: z
    .object({ documentType: text(40), checkedBy: text(80), approvedBy: text(80), checkedAt: text(40) })
    .nullable(),
  newCardN: text(64).nullable(),
  reissuedAt: text(40).nullable(),
});
export type SupportCaseView = z.infer<typeof supportCaseSchema>;

export const supportSettingsSchema = z.object({
  email: z.boolean(),
  sms: z.boolean(),
  inboundAddress: text(200).nullable(),
  /** What to configure for the channels that are missing, for a person. */
  missing: z.array(text(300)),
});

export const supportChannels = {
  'support:report': channel({
    summary:
      'Report a card lost, stolen, damaged or suspected cloned: the card is blocked and its lists disabled at once; a card with an open case gets that case',
    input: z
      .object({
        n: cardNSchema,
        reason: reportReasonSchema,
        /** The suspicion event (usage review, clone check) the report comes from. */
        suspicionId: z.number().int().min(1).optional(),
        note: text(500).optional(),
      })
      .strict(),
    output: z.object({ case: supportCaseSchema, created: z.boolean() }),
    access: SUPPORT_ROLES,
    mutates: true,
  }),
  'support:cases': channel({
    summary: 'The support cases: open ones first with the step each is at, then the most recently reissued',
    input: z.object({ limit: z.number().int().min(1).max(500).default(200) }).strict(),
    output: z.object({ cases: z.array(supportCaseSchema), settings: supportSettingsSchema }),
    access: SUPPORT_ROLES,
    mutates: false,
  }),
  'support:case': channel({
    summary: 'One support case',
    input: z.object({ caseId }).strict(),
    output: supportCaseSchema,
    access: SUPPORT_ROLES,
    mutates: false,
  }),
  'support:sendPasskey': channel({
    summary:
      "Send a new passkey to the customer's registered e-mail or mobile (it replaces the one before) and show when it expires",
    input: z.object({ caseId, channel: passkeyChannelSchema }).strict(),
    output: supportCaseSchema,
    access: SUPPORT_ROLES,
    mutates: true,
  }),
  'support:enterPasskey': channel({
    summary: 'Check the passkey the customer reads back; wrong ones count towards the lockout',
    input: z.object({ caseId, passkey: nonEmpty('The passkey', 64) }).strict(),
    output: z.object({
      case: supportCaseSchema,
      result: z.enum(['verified', 'wrong', 'locked']),
      attemptsLeft: z.number().int(),
    }),
    access: SUPPORT_ROLES,
    mutates: true,
  }),
  'support:identityProcedure': channel({
    summary:
      'A manager records the additional identity check done in person (document type and reference) under dual control; it lifts the lockout, and a new passkey is sent',
    input: z
      .object({
        caseId,
        documentType: identityDocumentSchema,
        documentRef: nonEmpty('The document number', 64),
        approval: approvalSchema.optional(),
      })
      .strict(),
    output: supportCaseSchema,
    access: PROCEDURE_ROLES,
    mutates: true,
  }),
} as const;

import { z } from 'zod';
import { approvalSchema } from './approval.contract';
import { channel, text } from './define';

// Reissue of a reported card (issue 11 item 3; docs/reissue.md): for a support case whose customer
// was verified out of band, a blank card is enrolled for the same customer with a fresh N and the
// old table's remaining codes carried over. Nothing here carries a key or a code: the new K reaches
// the cardholder on the K/N mailer, printed under dual control from the Mailer page.

/** The emergency sheet is printed like a mailer: by a manager, with a second approver. */
const SHEET_PRINTERS = ['manager'] as const;
/** Support staff run reissues; a manager may as well (docs/reissue.md). */
const REISSUERS = ['support', 'manager'] as const;
const caseId = z
  .number()
  .int()
  .positive()
  .max(2 ** 31);

export const reissueResultSchema = z.object({
  caseId: z.number().int(),
  customerId: z.number().int(),
  oldN: text(40),
  newCardRecordId: z.number().int(),
  newCardId: text(64),
  newN: text(40),
  newNFormatted: text(48),
  carriedCodes: z.number().int(),
  resumed: z.boolean(),
});
export type ReissueResultInfo = z.infer<typeof reissueResultSchema>;

export const reissueStatusSchema = z.object({
  caseId: z.number().int(),
  state: z.enum(['enrolling', 'enrolled', 'done']),
  oldN: text(40),
  newCardId: text(64),
  newN: text(40).nullable(),
  carriedCodes: z.number().int(),
  oldCardTerminated: z.boolean(),
  /** When the emergency sheet was printed (null: none). */
  emergencyPrintedAt: text(40).nullable(),
});
export type ReissueStatusInfo = z.infer<typeof reissueStatusSchema>;

export const reissueChannels = {
  'reissue:reissue': channel({
    summary:
      "Enroll the blank card in a reader as the verified case's new card (fresh N, new keys, remaining codes carried over), or finish an interrupted reissue",
    input: z.object({ caseId, reader: z.string().trim().min(1, 'Choose a reader').max(200) }).strict(),
    output: reissueResultSchema,
    access: REISSUERS,
    mutates: true,
  }),
  'reissue:printEmergencySheet': channel({
    summary:
      'Print the emergency code sheet for the time the new card is in the post (once; a second manager or officer approves); its codes die when the new card is activated',
    input: z.object({ caseId, approval: approvalSchema.optional() }).strict(),
    output: z.object({
      caseId: z.number().int(),
      n: text(40),
      seq: z.number().int(),
      length: z.number().int(),
      expiresAt: text(40),
      destination: text(300),
      approvedBy: text(100).nullable(),
    }),
    access: SHEET_PRINTERS,
    mutates: true,
  }),
  'reissue:status': channel({
    summary: "A case's reissue, if one was begun: its state, the new card and the codes carried over",
    input: z.object({ caseId }).strict(),
    output: reissueStatusSchema.nullable(),
    access: [...REISSUERS, 'auditor'],
    mutates: false,
  }),
};

import { z } from 'zod';
import { approvalSchema } from './approval.contract';
import { channel, nonEmpty, none, text } from './define';

// The K/N mailer (docs/mailer.md): the queue of cards waiting for theirs, printing one or the
// day's batch, a reprint, and the print log. K never crosses the contract: main renders the PDF
// and sends it to the printer; answers carry the serial, N and the key series, never the key.

const MANAGERS = ['manager'] as const;
/** The print log is a control record: managers keep it, security officers and auditors review it. */
const LOG_READERS = ['manager', 'security_officer', 'auditor'] as const;

const cardRef = z
  .number()
  .int()
  .positive()
  .max(2 ** 31);
const printResult = z.enum(['pending', 'printed', 'failed', 'uncertain']);

export const mailerQueueEntrySchema = z.object({
  cardRef: z.number().int(),
  cardId: text(64),
  n: text(64),
  state: z.enum(['enrolling', 'awaiting_activation', 'active', 'blocked', 'terminated']),
  customerId: z.number().int(),
  customerName: text(200),
  enrolledAt: text(40),
  /** to-print: no mailer yet; printed; uncertain: may be on paper, reprint only; printing: in progress. */
  mailer: z.enum(['to-print', 'printed', 'uncertain', 'printing']),
  lastSerial: text(20).nullable(),
  prints: z.number().int(),
});
export type MailerQueueEntryView = z.infer<typeof mailerQueueEntrySchema>;

export const mailerPrintedSchema = z.object({
  serial: text(20),
  cardRef: z.number().int(),
  n: text(64),
  keySn: z.number().int(),
  kind: z.enum(['initial', 'reprint']),
  destination: text(300),
});
export type MailerPrintedView = z.infer<typeof mailerPrintedSchema>;

export const mailerBatchItemSchema = z.object({
  cardRef: z.number().int(),
  n: text(64),
  customerName: text(200),
  serial: text(20).nullable(),
  result: z.enum(['printed', 'failed', 'uncertain', 'skipped']),
  code: text(60).optional(),
  message: text(300).optional(),
});
export type MailerBatchItemView = z.infer<typeof mailerBatchItemSchema>;

export const mailerLogRowSchema = z.object({
  serial: text(20),
  cardRef: z.number().int(),
  n: text(64),
  keySn: z.number().int(),
  kind: z.enum(['initial', 'reprint']),
  reason: text(300).nullable(),
  operator: text(64),
  approver: text(64).nullable(),
  batch: text(40).nullable(),
  startedAt: text(40),
  finishedAt: text(40).nullable(),
  result: printResult,
  errorCode: text(60).nullable(),
});
export type MailerLogRowView = z.infer<typeof mailerLogRowSchema>;

export const MAILER_LOG_SORT = ['startedAt', 'serial', 'n', 'operator', 'result', 'kind'] as const;
export const MAILER_BATCH_MAX = 200;

export const mailerChannels = {
  'mailer:queue': channel({
    summary: 'Cards awaiting activation or active, with where their K/N mailer stands, and where mailers go',
    input: none,
    output: z.object({
      entries: z.array(mailerQueueEntrySchema),
      destination: text(300),
      rendererReady: z.boolean(),
      /** Cards waiting for their first mailer: enrolled today (the day's batch), and earlier. */
      batch: z.object({ today: z.number().int(), older: z.number().int() }),
    }),
    access: MANAGERS,
    mutates: false,
  }),
  'mailer:print': channel({
    summary: 'Print the K/N mailer of one card awaiting activation, once (a second manager or officer approves)',
    input: z.object({ cardRef, approval: approvalSchema.optional() }).strict(),
    output: mailerPrintedSchema,
    access: MANAGERS,
    mutates: true,
  }),
  'mailer:printBatch': channel({
    summary:
      "Print the day's batch: the mailers of the cards enrolled today awaiting activation with none (olderToo: and earlier ones), each on its own, with progress",
    input: z.object({ approval: approvalSchema.optional(), olderToo: z.boolean().optional() }).strict(),
    output: z.object({
      batch: text(40),
      total: z.number().int(),
      printed: z.number().int(),
      results: z.array(mailerBatchItemSchema).max(MAILER_BATCH_MAX),
    }),
    access: MANAGERS,
    mutates: true,
  }),
  'mailer:reprint': channel({
    summary: 'Reprint a mailer: a security event that moves the card to its next key series (reason, approval)',
    input: z
      .object({
        cardRef,
        reason: nonEmpty('The reason for the reprint', 300).pipe(
          z.string().min(5, 'Say why the mailer is reprinted (at least 5 characters)'),
        ),
        approval: approvalSchema.optional(),
      })
      .strict(),
    output: mailerPrintedSchema,
    access: MANAGERS,
    mutates: true,
  }),
  'mailer:log': channel({
    summary: 'The mailer print log: serial, card, N, operator, approver, time, kind, reason, result (never K)',
    input: z
      .object({
        sort: z.enum(MAILER_LOG_SORT).default('startedAt'),
        desc: z.boolean().default(true),
        limit: z.number().int().min(1).max(100).default(25),
        offset: z.number().int().min(0).max(1_000_000).default(0),
      })
      .strict(),
    output: z.object({ rows: z.array(mailerLogRowSchema), total: z.number().int() }),
    access: LOG_READERS,
    mutates: false,
  }),
} as const;

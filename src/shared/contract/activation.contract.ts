import { z } from 'zod';
import { approvalSchema } from './approval.contract';
import { channel, text } from './define';

// Activation at the desk, unblocking and card-key rotation, and the card page's view of the card
// in a reader (docs/activation.md). K from the mailer and the PIN travel in, never out: no output
// below has a field that could carry them.

const readerName = z.string().trim().min(1, 'Choose a reader').max(200);

/** What the desk can sensibly do next with the card in the reader. */
export const NEXT_ACTIONS = ['insert-card', 'enroll', 'activate', 'unblock', 'rotate', 'none'] as const;
export type NextAction = (typeof NEXT_ACTIONS)[number];

export const cardInReaderSchema = z.object({
  reader: text(200),
  /** The card as it reports itself (plain GET STATE): never a key, PIN or code. */
  card: z
    .object({
      cardId: text(16),
      lifeCycle: text(20),
      n: text(40).nullable(),
      keyVersion: z.number().int(),
      activationTriesLeft: z.number().int(),
      pinTriesLeft: z.number().int(),
    })
    .nullable(),
  /** The card as this desk's database knows it, and whose it is. */
  record: z
    .object({
      id: z.number().int(),
      n: text(40),
      state: text(40),
      customerId: z.number().int(),
      customerName: text(200),
      activatedAt: text(40).nullable(),
      /** Which key the card's lists are sealed for (docs/push.md, "Public-key mode"). */
      sealMode: z.enum(['card-key', 'public-key']),
    })
    .nullable(),
  nextAction: z.enum(NEXT_ACTIONS),
  /** One sentence for the operator: what the card is and what to do. */
  note: text(300),
  /** What this presentation put right (a change the card made that the database had not recorded). */
  reconciled: z.array(text(200)),
});
export type CardInReader = z.infer<typeof cardInReaderSchema>;

export const activationChannels = {
  'activation:activate': channel({
    summary: 'Activate the card in the reader with K from the mailer and the PIN the cardholder chose',
    input: z
      .object({
        reader: readerName,
        /** K as typed from the mailer, groups and check characters included; checked before the card is touched. */
        key: z.string().max(80, 'The activation key is longer than on the mailer: check what was typed'),
        pin: z.string().max(16, 'The PIN is 4 to 8 digits'),
        pinRepeat: z.string().max(16, 'The PIN is 4 to 8 digits'),
      })
      .strict(),
    output: z.object({
      cardId: text(16),
      n: text(40),
      state: z.literal('active'),
      /** True when an earlier attempt had already activated the card (its answer was lost). */
      completedEarlier: z.boolean(),
      /** What followed the activation (the first list), each with its outcome. */
      followUps: z.array(z.object({ name: text(60), ok: z.boolean(), message: text(300) })),
    }),
    access: ['clerk', 'manager'],
    mutates: true,
  }),
  'activation:unblock': channel({
    summary: 'Unblock the card in the reader (RESET RETRY COUNTER under secure messaging), under dual control',
    input: z
      .object({
        reader: readerName,
        /** Only for a card blocked by wrong PINs after activation: the cardholder's new PIN. */
        newPin: z.string().max(16, 'The PIN is 4 to 8 digits').optional(),
        approval: approvalSchema.optional(),
      })
      .strict(),
    output: z.object({ cardId: text(16), n: text(40), state: text(40), approvedBy: text(64).nullable() }),
    access: ['manager'],
    mutates: true,
  }),
  'cards:rotateKey': channel({
    summary: "Replace the card key K by K' (sent under K); afterwards the card refuses K",
    input: z.object({ reader: readerName }).strict(),
    output: z.object({
      cardId: text(16),
      n: text(40),
      fromVersion: z.number().int(),
      toVersion: z.number().int(),
      /** True when this call finished a rotation an interruption had left half done, instead of starting one. */
      recovered: z.boolean(),
    }),
    access: ['manager', 'support', 'security_officer'],
    mutates: true,
  }),
  'cards:inReader': channel({
    summary: 'Whose card is in the reader, its state and the next sensible action',
    input: z.object({ reader: readerName }).strict(),
    output: cardInReaderSchema,
    access: ['clerk', 'manager', 'support', 'auditor', 'security_officer'],
    mutates: false,
  }),
} as const;

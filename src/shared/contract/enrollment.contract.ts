import { z } from 'zod';
import { channel, none, text } from './define';

// Enrollment (clerks and managers): find the customer, pick the reader with the blank card,
// enroll; a card interrupted mid-way is finished with retry. Nothing here carries a key: K stays
// in the keystore and reaches the cardholder only on the mailer.

const ENROLLERS = ['clerk', 'manager'] as const;

const readerName = z.string().trim().min(1, 'Choose a reader').max(200);

export const customerChoiceSchema = z.object({
  id: z.number().int(),
  fullName: text(200),
  customerRef: text(100).nullable(),
  birthDate: text(10).nullable(),
  city: text(200),
  branch: text(100),
  cards: z.number().int(),
});
export type CustomerChoiceInfo = z.infer<typeof customerChoiceSchema>;

export const enrollmentResultSchema = z.object({
  cardRecordId: z.number().int(),
  cardId: text(64),
  customerId: z.number().int(),
  /** The identification code N (with its check character) and its grouped form for display. */
  n: text(40),
  nFormatted: text(48),
  state: z.literal('awaiting_activation'),
  resumed: z.boolean(),
  personalised: z.boolean(),
});
export type EnrollmentResultInfo = z.infer<typeof enrollmentResultSchema>;

export const cardInspectionSchema = z.object({
  reader: text(200),
  cardId: text(64).nullable(),
  lifeCycle: text(40).nullable(),
  verdict: z.enum(['blank', 'pending', 'enrolled', 'not-blank', 'foreign']),
  record: z.object({ customerId: z.number().int(), n: text(40), state: text(40) }).nullable(),
  message: text(300),
});
export type CardInspectionInfo = z.infer<typeof cardInspectionSchema>;

export const enrollmentStepSchema = z.enum(['reading', 'binding', 'personalising', 'checking', 'finishing', 'done']);
export type EnrollmentStepName = z.infer<typeof enrollmentStepSchema>;

export const trainingCardSchema = z.object({
  cardId: text(64),
  lifeCycle: text(40),
  n: text(40).nullable(),
  inReader: z.boolean(),
});
const trainingDrawerSchema = z.object({ reader: text(200), cards: z.array(trainingCardSchema) });
export type TrainingDrawerInfo = z.infer<typeof trainingDrawerSchema>;

export const enrollmentChannels = {
  'enrollment:findCustomers': channel({
    summary: 'Customers whose name or reference matches, to enroll a card for',
    input: z.object({ query: z.string().trim().min(2, 'Type at least 2 characters').max(100) }).strict(),
    output: z.array(customerChoiceSchema),
    access: ENROLLERS,
    mutates: false,
  }),
  'enrollment:status': channel({
    summary: 'What enrollment would do with the card in a reader (blank, unfinished, enrolled, foreign)',
    input: z.object({ reader: readerName }).strict(),
    output: cardInspectionSchema,
    access: ENROLLERS,
    mutates: false,
  }),
  'enrollment:enroll': channel({
    summary: 'Bind the blank card in a reader to a customer and personalise it',
    input: z
      .object({
        customerId: z.number().int().positive(),
        reader: readerName,
        /** The card the operator confirmed: a different card in the reader now is refused. */
        cardId: z
          .string()
          .regex(/^[0-9A-Fa-f]{16}$/, 'A card id is 16 hexadecimal characters')
          .optional(),
      })
      .strict(),
    output: enrollmentResultSchema,
    access: ENROLLERS,
    mutates: true,
  }),
  'enrollment:retry': channel({
    summary: 'Finish the interrupted enrollment of the card in a reader',
    input: z
      .object({
        reader: readerName,
        cardId: z
          .string()
          .regex(/^[0-9A-Fa-f]{16}$/, 'A card id is 16 hexadecimal characters')
          .optional(),
      })
      .strict(),
    output: enrollmentResultSchema,
    access: ENROLLERS,
    mutates: true,
  }),
  'enrollment:trainingDrawer': channel({
    summary: 'Training mode: the practice cards and which one is in the training reader',
    input: none,
    output: trainingDrawerSchema,
    access: ENROLLERS,
    mutates: false,
  }),
  'enrollment:trainingNewCard': channel({
    summary: 'Training mode: put a new blank practice card into the training reader',
    input: none,
    output: trainingDrawerSchema,
    access: ENROLLERS,
    mutates: true,
  }),
  'enrollment:trainingInsert': channel({
    summary: 'Training mode: put a practice card from the drawer into the training reader',
    input: z
      .object({ cardId: z.string().regex(/^[0-9A-Fa-f]{16}$/, 'A card id is 16 hexadecimal characters') })
      .strict(),
    output: trainingDrawerSchema,
    access: ENROLLERS,
    mutates: true,
  }),
  'enrollment:trainingRemove': channel({
    summary: 'Training mode: take the card out of the training reader',
    input: none,
    output: trainingDrawerSchema,
    access: ENROLLERS,
    mutates: true,
  }),
} as const;

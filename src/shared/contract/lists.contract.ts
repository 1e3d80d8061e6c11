import { z } from 'zod';
import { channel, text } from './define';
import { cardNSchema } from './keys.contract';

// Code lists over the contract (issue 9 items 5 and 8): metadata only — states, counts, dates.
// No code, no list secret, no envelope crosses it; the list id is a random name, not a secret.

/** The card pages' rule (PAGE_ACCESS.cards): who may look at a card's lists. */
const CARD_READERS = ['clerk', 'manager', 'support', 'auditor'] as const;
/** A new list on request: the manager or support at the desk (docs/lists.md, "Refill"). */
const REFILLERS = ['manager', 'support'] as const;

export const listStateSchema = z.enum([
  'prepared',
  'staged',
  'committed',
  'receipt_verified',
  'active',
  'superseded',
  'disabled',
]);
export const listTriggerSchema = z.enum(['first', 'threshold', 'card_flag', 'manual']);

export const listSummarySchema = z.object({
  seq: z.number().int(),
  listId: z.string().regex(/^[0-9a-f]{32}$/),
  state: listStateSchema,
  trigger: listTriggerSchema,
  length: z.number().int(),
  digits: z.number().int(),
  threshold: z.number().int(),
  used: z.number().int(),
  /** Codes left by the server's own count (forward-only use: skipped codes are gone). */
  remaining: z.number().int(),
  nextIndex: z.number().int(),
  refillDue: z.boolean(),
  expiresAt: text(40),
  createdAt: text(40),
  activatedAt: text(40).nullable(),
});
export type ListSummary = z.infer<typeof listSummarySchema>;

export const listsChannels = {
  'lists:forCard': channel({
    summary: "A card's code lists, newest first: state, codes used and left, refill due, expiry",
    input: z.object({ n: cardNSchema }).strict(),
    output: z.object({
      n: text(64),
      cardState: text(40),
      lists: z.array(listSummarySchema).max(10_000),
    }),
    access: CARD_READERS,
    mutates: false,
  }),
  'lists:requestRefill': channel({
    summary: 'Queue the next code list for a card (one on its way at most); it is pushed at the next presentation',
    input: z.object({ n: cardNSchema }).strict(),
    output: z.object({ created: z.boolean(), list: listSummarySchema }),
    access: REFILLERS,
    mutates: true,
  }),
};

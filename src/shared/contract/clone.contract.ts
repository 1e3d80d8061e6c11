import { z } from 'zod';
import { channel, text } from './define';
import { cardNSchema } from './keys.contract';

// Clone detection at the desk (issue 10 item 3, source 003; docs/clone-detection.md): the card's
// authenticated use counters against the server's, the card's suspicion events, and disabling a
// flagged table at once. Counts, states and dates only: never a code, a key or a list secret.

/** The card page's readers (PAGE_ACCESS.cards). */
const CARD_READERS = ['clerk', 'manager', 'support', 'auditor'] as const;
/** Whoever presents a card at the desk may have its counters compared. */
const PRESENTERS = ['clerk', 'manager', 'support'] as const;
/** Withdrawing a table or settling a suspicion: the manager or support (docs/clone-detection.md). */
const RESPONDERS = ['manager', 'support'] as const;

const reader = z.string().trim().min(1, 'Choose a reader').max(200);

export const counterVerdictSchema = z.enum(['in_step', 'probable_clone', 'card_ahead', 'not_comparable']);

export const suspicionSchema = z.object({
  id: z.number().int(),
  kind: z.enum(['code_replayed', 'disabled_table_used', 'blocked_card_used', 'counter_drift']),
  listSeq: z.number().int().nullable(),
  codeIndex: z.number().int().nullable(),
  drift: z.number().int().nullable(),
  source: text(64),
  occurredAt: text(40),
  resolvedAt: text(40).nullable(),
  resolvedBy: text(80).nullable(),
  resolution: z.enum(['table_disabled', 'card_reported', 'dismissed']).nullable(),
});
export type SuspicionSummary = z.infer<typeof suspicionSchema>;

export const counterComparisonSchema = z.object({
  n: text(64),
  verdict: counterVerdictSchema,
  /** The list compared (the card's and the server's current one), or null when they differ. */
  listSeq: z.number().int().nullable(),
  listState: text(40).nullable(),
  /** Codes the card has given out from that list (entries − unused, from GET STATE under SM). */
  cardUsed: z.number().int().nullable(),
  /** Codes of that list the server accepted. */
  serverUsed: z.number().int().nullable(),
  /** serverUsed − cardUsed: positive is a probable clone, negative codes used offline. */
  drift: z.number().int().nullable(),
  /** The counter_drift event raised (or still open) for this drift. */
  suspicionId: z.number().int().nullable(),
  /** Why no comparison was possible, for a person. */
  note: text(300).nullable(),
});
export type CounterComparison = z.infer<typeof counterComparisonSchema>;

export const cloneChannels = {
  'clone:compareCounters': channel({
    summary:
      "Compare the use counters of the card in a reader (GET STATE under secure messaging) with the server's; a server ahead is a probable clone",
    input: z.object({ reader }).strict(),
    output: counterComparisonSchema,
    access: PRESENTERS,
    mutates: true,
  }),
  'clone:suspicions': channel({
    summary: "A card's suspicion events (replays, disabled or blocked use, counter drift), newest first",
    input: z.object({ n: cardNSchema }).strict(),
    output: z.object({ n: text(64), events: z.array(suspicionSchema).max(500) }),
    access: CARD_READERS,
    mutates: false,
  }),
  'clone:disableTable': channel({
    summary:
      "Withdraw the card's current code table at once (a probable clone): its codes are refused from now on, its open suspicions resolved",
    input: z
      .object({
        n: cardNSchema,
        /** The table the operator saw and confirmed: a newer one is never disabled by mistake. */
        seq: z.number().int().min(1),
      })
      .strict(),
    output: z.object({ n: text(64), seq: z.number().int(), resolved: z.number().int() }),
    access: RESPONDERS,
    mutates: true,
  }),
  'clone:resolve': channel({
    summary: 'Settle one open suspicion event: the card reported (lost, stolen), or dismissed',
    input: z
      .object({
        n: cardNSchema,
        id: z.number().int().min(1),
        resolution: z.enum(['card_reported', 'dismissed']),
      })
      .strict(),
    output: suspicionSchema,
    access: RESPONDERS,
    mutates: true,
  }),
};

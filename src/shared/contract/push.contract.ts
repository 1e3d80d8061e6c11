import { z } from 'zod';
import { channel, text } from './define';

// Pushing a code list to the card in a reader (issue 9 item 6): the answer says what happened,
// never what was sent. Progress arrives as `push:progress` events to the calling window only.

/** Whoever has the cardholder's card at the desk. */
const PUSHERS = ['clerk', 'manager', 'support'] as const;

export const pushChannels = {
  'push:pushNext': channel({
    summary:
      'Push the next code list to the card in a reader, or finish one an interruption left half done (two-phase, receipt-checked)',
    input: z.object({ reader: z.string().trim().min(1, 'Choose a reader').max(200) }).strict(),
    output: z.object({
      n: text(64),
      outcome: z.enum(['pushed', 'resumed', 'nothing-to-push']),
      seq: z.number().int().optional(),
      lowCodesQueued: z.boolean().optional(),
    }),
    access: PUSHERS,
    mutates: true,
  }),
};

import { z } from 'zod';
import { channel, text } from './define';
import { cardNSchema } from './keys.contract';

// Pushing a code list to the card in a reader (issue 9 item 6): the answer says what happened,
// never what was sent. Progress arrives as `push:progress` events to the calling window only.

/** Whoever has the cardholder's card at the desk. */
const PUSHERS = ['clerk', 'manager', 'support'] as const;
/**
 * Who sends a list by text message: those who may request one (lists:requestRefill). One person is
 * enough: the package is sealed to the card (encrypted and MACed under its key, signed by the
 * issuer), so it carries nothing in clear that a second person would guard; only the card opens it.
 */
const SMS_SENDERS = ['manager', 'support'] as const;

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
  'cards:setSealMode': channel({
    summary:
      "Seal the card's lists for its own RSA key (GENERATE KEY PAIR under secure messaging, the key kept on record) or for K again",
    // Only the reader and the mode come in: the public key is taken from the card's R-MACed answer
    // alone, never from a caller.
    input: z
      .object({
        reader: z.string().trim().min(1, 'Choose a reader').max(200),
        mode: z.enum(['card-key', 'public-key']),
      })
      .strict(),
    output: z.object({
      cardId: text(16),
      n: text(64),
      sealMode: z.enum(['card-key', 'public-key']),
      /** SHA-256 of the recorded public key (its SubjectPublicKeyInfo), first 16 hex digits; null in card-key mode. */
      keyFingerprint: text(16).nullable(),
    }),
    // A change of the keys a card's lists are sealed for, like a key rotation or an unblock: a
    // manager's step, not the clerk's routine (docs/push.md, "Public-key mode").
    access: ['manager'],
    mutates: true,
  }),
  'push:exportSms': channel({
    summary:
      "Export the card's queued list as a remote refill package (text messages, docs/remote-refill.md); the list is marked sent",
    input: z.object({ n: cardNSchema }).strict(),
    output: z.object({
      n: text(64),
      seq: z.number().int(),
      packageId: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{6}$/),
      /** `OTAC1 <id> <i>/<n> <payload>`, in order, one SMS each. */
      segments: z.array(z.string().max(160)).min(1).max(99),
      resent: z.boolean(),
    }),
    access: SMS_SENDERS,
    mutates: true,
  }),
};

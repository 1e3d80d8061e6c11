import { z } from 'zod';
import { REFUSAL_REASONS, type RefusalReason } from '../core/verification/verification.service';
import type { ChallengeRefusal } from '../core/verification/challenge.service';

// The service's JSON, once: these zod schemas check every body and answer, and the OpenAPI document
// served at /openapi.json is generated from them (z.toJSONSchema), so the description cannot drift
// from what the service does.

/** N as the keystore derives card keys from it (card-key-derivation.ts). */
const N = z
  .string()
  .regex(/^[0-9A-Za-z-]{1,64}$/, 'N is 1 to 64 letters, digits or hyphens')
  .describe('The card identification number N printed on the card and the mailer');
/** The policy allows 6 to 10 digits per code (policy.contract.ts codeDigits). */
const CODE = z
  .string()
  .regex(/^\d{6,10}$/, 'the code is 6 to 10 digits')
  .describe('The one-time code the cardholder read from the card');

export const VerifyRequest = z
  .strictObject({
    n: N,
    code: CODE,
    index: z
      .int()
      .min(1, 'index is a whole number from 1')
      .max(0xffff, 'index is at most 65535')
      .optional()
      .describe('The position of the code in its list, when the card shows it'),
  })
  .describe('One code to check and, when it is accepted, to mark used');
export type VerifyRequest = z.infer<typeof VerifyRequest>;

export const VerifyAccepted = z.strictObject({
  result: z.literal('accepted'),
  index: z.int().describe('The position of the accepted code'),
  remaining: z.int().describe("Codes left on the card's list by the issuer's count"),
  refillQueued: z.boolean().describe('This use brought the list to its refill threshold and the next list was queued'),
});

/** What a person (the bank's support line) reads next to each reason. */
export const REASON_MESSAGES: Readonly<Record<RefusalReason, string>> = {
  unknown_n: 'No card has this N. Check the number on the card.',
  card_blocked: 'The card is blocked. The cardholder unblocks it at a branch.',
  card_terminated: 'The card was terminated. The cardholder needs a new card.',
  card_not_active: 'The card is not activated yet. The cardholder activates it at a branch.',
  no_active_list: 'The card has no code list yet. The cardholder presents it at a branch.',
  table_disabled: "The card's code list was withdrawn by the issuer. The cardholder contacts the bank.",
  table_expired: "The card's code list has expired. The cardholder presents the card at a branch for a new one.",
  already_used: 'This code was used already. The cardholder uses the next code on the card.',
  not_expected_position: 'This code is not at the expected position. The cardholder uses the next code on the card.',
  wrong_code: 'The code is not right. The cardholder checks it and tries again.',
  too_many_failures: 'Too many wrong codes in a row: the card is locked for codes until a branch clears it.',
};

export const VerifyRejected = z.strictObject({
  result: z.literal('rejected'),
  reason: z.enum(REFUSAL_REASONS),
  message: z.string(),
});

export const VerifyAnswer = z.discriminatedUnion('result', [VerifyAccepted, VerifyRejected]);
export type VerifyAnswer = z.infer<typeof VerifyAnswer>;

// Challenge-response (issue 10 item 2; docs/verification-service.md "Challenge-response").

export const ChallengeRequest = z
  .strictObject({ n: N })
  .describe('Ask for a single-use challenge for the card N; hand it to the card (CHALLENGE RESPONSE)');
export type ChallengeRequest = z.infer<typeof ChallengeRequest>;

export const ChallengeIssued = z.strictObject({
  challengeId: z.string().describe('Names the challenge when its answer is sent'),
  challenge: z.string().describe('32 hex digits: the data of the card command CHALLENGE RESPONSE'),
  expiresAt: z.string().describe('ISO-8601; after this the answer is refused'),
});
export type ChallengeIssued = z.infer<typeof ChallengeIssued>;

export const ChallengeAnswerRequest = z
  .strictObject({
    challengeId: z.string().regex(/^[0-9a-f]{32}$/, 'challengeId is 32 lower-case hex digits'),
    answer: z
      .string()
      .regex(/^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{42})$/, "answer is the card's response in hex: 42 digits, or 32")
      .describe("The card's CHALLENGE RESPONSE answer, unchanged: with a code (42 hex digits) or the card key (32)"),
  })
  .describe("The card's answer to a challenge; a code answer marks that code used");
export type ChallengeAnswerRequest = z.infer<typeof ChallengeAnswerRequest>;

export const CHALLENGE_REFUSALS = [
  ...REFUSAL_REASONS,
  'unknown_challenge',
  'challenge_expired',
  'challenge_used',
  'wrong_answer',
] as const satisfies readonly ChallengeRefusal[];

export const CHALLENGE_MESSAGES: Readonly<Record<ChallengeRefusal, string>> = {
  ...REASON_MESSAGES,
  wrong_code: 'The card’s answer does not match its code for this challenge. Ask for a new challenge.',
  unknown_challenge: 'There is no such challenge. Ask for a new one.',
  challenge_expired: 'The challenge expired before its answer came. Ask for a new one.',
  challenge_used: 'This challenge was answered already; each is used once. Ask for a new one.',
  wrong_answer: 'The card’s answer is not this card’s. Treat it as a possible copy and ask for a new challenge.',
};

export const ChallengeAnswer = z.discriminatedUnion('result', [
  z.strictObject({
    result: z.literal('accepted'),
    mode: z.enum(['code', 'card']).describe('code: a code was used up; card: the card proved it holds its key'),
    index: z.int().optional(),
    remaining: z.int().optional(),
    refillQueued: z.boolean().optional(),
  }),
  z.strictObject({ result: z.literal('rejected'), reason: z.enum(CHALLENGE_REFUSALS), message: z.string() }),
]);
export type ChallengeAnswer = z.infer<typeof ChallengeAnswer>;

export const ERROR_CODES = [
  'BAD_JSON',
  'EMPTY_BODY',
  'BAD_REQUEST',
  'UNKNOWN_FIELD',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNAUTHENTICATED',
  'BAD_API_KEY',
  'BAD_CLIENT_CERTIFICATE',
  'SCOPE_MISSING',
  'RATE_LIMITED',
  'NOT_FOUND',
  'UNKNOWN_N',
  'KEYSTORE_LOCKED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const ErrorAnswer = z.strictObject({
  error: z.strictObject({
    code: z.enum(ERROR_CODES),
    message: z.string().describe('What went wrong and what to do next'),
  }),
});
export type ErrorAnswer = z.infer<typeof ErrorAnswer>;

export const HealthAnswer = z.strictObject({
  status: z.enum(['ok', 'unavailable']),
  keystore: z.enum(['unlocked', 'locked']),
  database: z.enum(['ok', 'failed']),
});
export type HealthAnswer = z.infer<typeof HealthAnswer>;

const json = (schema: z.ZodType) => ({
  'application/json': { schema: z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'output' }) },
});
const error = (description: string) => ({ description, content: json(ErrorAnswer) });

/** The OpenAPI 3.0 description of the service, from the schemas above. */
export function openApiDocument(version: string): Record<string, unknown> {
  const security = [{ apiKey: [] }];
  return {
    openapi: '3.0.3',
    info: {
      title: 'OTAC verification service',
      version,
      description:
        'Checks one-time authentication codes of OTAC cards for the bank (docs/verification-service.md). ' +
        'Authenticate with "Authorization: Bearer <API key>"; each key has scopes (verify, challenge, read).',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'otac_<key id>_<secret>' } },
    },
    paths: {
      '/v1/verify': {
        post: {
          summary: 'Check a code and mark it used (scope: verify)',
          security,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: z.toJSONSchema(VerifyRequest, { target: 'openapi-3.0' }) } },
          },
          responses: {
            '200': {
              description: 'Accepted (its use is on disk before this answer) or rejected with a reason',
              content: json(VerifyAnswer),
            },
            '400': error('Malformed JSON, an unknown field, or a value out of its form'),
            '401': error('No API key, or one that is unknown or revoked'),
            '403': error('The API key lacks the verify scope'),
            '413': error('The body is larger than the limit'),
            '415': error('The body is not application/json'),
            '429': error('Too many requests for this N; retry after the Retry-After header'),
            '503': error('The keystore is not unlocked'),
          },
        },
      },
      '/v1/challenge': {
        post: {
          summary: 'Issue a single-use, expiring challenge for N (scope: challenge)',
          security,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: z.toJSONSchema(ChallengeRequest, { target: 'openapi-3.0' }) } },
          },
          responses: {
            '200': { description: 'The challenge to hand to the card', content: json(ChallengeIssued) },
            '400': error('Malformed JSON, an unknown field, or N out of its form'),
            '401': error('No API key, or one that is unknown or revoked'),
            '403': error('The API key lacks the challenge scope'),
            '404': error('No card has this N'),
            '429': error('Too many requests for this N'),
          },
        },
      },
      '/v1/challenge/answer': {
        post: {
          summary: "Check the card's answer to a challenge; a code answer marks the code used (scope: challenge)",
          security,
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: z.toJSONSchema(ChallengeAnswerRequest, { target: 'openapi-3.0' }) },
            },
          },
          responses: {
            '200': {
              description: 'Accepted (a use is on disk before this answer) or rejected',
              content: json(ChallengeAnswer),
            },
            '400': error('Malformed JSON, an unknown field, or an answer out of its form'),
            '401': error('No API key, or one that is unknown or revoked'),
            '403': error('The API key lacks the challenge scope'),
            '503': error('The keystore is not unlocked'),
          },
        },
      },
      '/health': {
        get: {
          summary: 'Liveness and readiness (no authentication)',
          responses: {
            '200': { description: 'Ready', content: json(HealthAnswer) },
            '503': { description: 'Not ready', content: json(HealthAnswer) },
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus text format (scope: read)',
          security,
          responses: {
            '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
            '401': error('No API key, or one that is unknown or revoked'),
            '403': error('The API key lacks the read scope'),
          },
        },
      },
      '/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.0' } } },
      },
    },
  };
}

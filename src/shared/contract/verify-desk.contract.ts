import { z } from 'zod';
import { approvalSchema } from './approval.contract';
import { channel, nonEmpty, text } from './define';
import { cardNSchema } from './keys.contract';

// The desk's side of the verification service (issue 10 item 1; docs/verification-service.md):
// its clients (bank systems with an API key or a TLS client certificate from the bank CA) and, per
// card, what the service's use left for the desk to see — a failure lockout, a refill due or queued.
// An API key crosses the contract once, in the answer of `verifyClients:create`; no other answer
// carries it, and main keeps only its hash. A client certificate is public; its private key was
// never at the desk (the client sends a certificate request).

export const VERIFY_CLIENT_SCOPES = ['verify', 'challenge', 'read'] as const;
const CLIENT_MANAGERS = ['manager'] as const;
/** Revoking must not wait: a manager or a security officer does it alone (audited). */
const CLIENT_REVOKERS = ['manager', 'security_officer'] as const;
const CLIENT_READERS = ['manager', 'security_officer', 'auditor'] as const;
/** As the card pages (lists.contract.ts). */
const CARD_READERS = ['clerk', 'manager', 'support', 'auditor'] as const;
const LOCKOUT_CLEARERS = ['manager', 'support'] as const;

const keyId = z.string().regex(/^[0-9a-f]{16}$/, 'A client id is 16 hexadecimal digits');
const clientName = nonEmpty('The client name', 80);
const scopes = z
  .array(z.enum(VERIFY_CLIENT_SCOPES))
  .min(1, 'Give the client at least one scope')
  .max(VERIFY_CLIENT_SCOPES.length);

export const verifyClientSchema = z.object({
  keyId: text(16),
  name: text(80),
  scopes: z.array(z.enum(VERIFY_CLIENT_SCOPES)),
  credential: z.enum(['api_key', 'certificate']),
  certSerial: text(64).nullable(),
  certNotAfter: text(40).nullable(),
  createdAt: text(40),
  createdBy: text(64),
  revokedAt: text(40).nullable(),
});
export type VerifyClientView = z.infer<typeof verifyClientSchema>;

export const cardUseStatusSchema = z.object({
  n: text(64),
  /** The service's failure lockout: null when the card never failed (or was cleared and has not since). */
  failures: z
    .object({
      consecutive: z.number().int(),
      lastFailureAt: text(40).nullable(),
      /** Set while the card is locked out ("too many failures"). */
      lockedAt: text(40).nullable(),
    })
    .nullable(),
  /** none; due: the active list is at its refill threshold; queued: the next list waits to be pushed. */
  refill: z.enum(['none', 'due', 'queued']),
  /** Codes left on the active list (server's count), null without one. */
  remaining: z.number().int().nullable(),
});
export type CardUseStatus = z.infer<typeof cardUseStatusSchema>;

export const verifyDeskChannels = {
  'verifyClients:list': channel({
    summary:
      'The clients of the verification service: name, scopes, API key or certificate, created, revoked (never a key)',
    input: z.object({}).strict(),
    output: z.object({ clients: z.array(verifyClientSchema).max(10_000) }),
    access: CLIENT_READERS,
    mutates: false,
  }),
  'verifyClients:create': channel({
    summary:
      'A new API-key client of the verification service (a second person approves); the key is in this answer only',
    input: z.object({ name: clientName, scopes, approval: approvalSchema.optional() }).strict(),
    output: z.object({ client: verifyClientSchema, apiKey: text(80) }),
    access: CLIENT_MANAGERS,
    mutates: true,
  }),
  'verifyClients:issueCertificate': channel({
    summary:
      "A new certificate client: the bank CA signs a TLS client certificate for the client's request (a second person approves)",
    input: z
      .object({
        name: clientName,
        scopes,
        csrPem: nonEmpty('The certificate request', 8000),
        validDays: z.number().int().min(1).max(825).optional(),
        approval: approvalSchema.optional(),
      })
      .strict(),
    output: z.object({
      client: verifyClientSchema,
      certificatePem: text(8000),
      serial: text(64),
      fingerprint: text(100),
      notAfter: text(40),
    }),
    access: CLIENT_MANAGERS,
    mutates: true,
  }),
  'verifyClients:revoke': channel({
    summary: 'Revoke a client of the verification service at once (its key or certificate is refused from now on)',
    input: z.object({ keyId }).strict(),
    output: verifyClientSchema,
    access: CLIENT_REVOKERS,
    mutates: true,
  }),
  'verification:cardStatus': channel({
    summary: "What the verification service's use left on a card: failure lockout, refill due or queued",
    input: z.object({ n: cardNSchema }).strict(),
    output: cardUseStatusSchema,
    access: CARD_READERS,
    mutates: false,
  }),
  'verification:clearLockout': channel({
    summary: "Lift a card's failure lockout (too many failed codes), after checking with the cardholder",
    input: z.object({ n: cardNSchema }).strict(),
    output: z.object({ cleared: z.boolean() }),
    access: LOCKOUT_CLEARERS,
    mutates: true,
  }),
} as const;

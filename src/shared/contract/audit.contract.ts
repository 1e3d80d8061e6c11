import { z } from 'zod';
import { channel, text } from './define';

const outcomeSchema = z.enum(['ok', 'denied', 'failed']);
// Dates are UTC calendar days, inclusive, as the audit log stores UTC times.
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'Use a date like 2025-01-31');

export const auditEntrySchema = z.object({
  seq: z.number().int(),
  at: text(40),
  operatorId: z.number().int().nullable(),
  operator: text(64).nullable(),
  role: text(40).nullable(),
  action: text(200),
  object: text(1000).nullable(),
  outcome: outcomeSchema,
  /** JSON object of identifiers and reasons; never keys, codes, PINs or passkeys. */
  details: text(20_000),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export const AUDIT_PROBLEMS = ['altered', 'deleted', 'inserted', 'reordered', 'bad-signature'] as const;

export const auditVerificationSchema = z.object({
  ok: z.boolean(),
  entries: z.number().int(),
  checkpoints: z.number().int(),
  lastSignedSeq: z.number().int().nullable(),
  /** Entries after the last signed checkpoint: the chain protects them, no signature does yet. */
  unsignedTail: z.number().int(),
  firstProblem: z.object({ seq: z.number().int(), reason: z.enum(AUDIT_PROBLEMS), message: text(500) }).nullable(),
  /** What the checkpoint signatures were checked against: never a key found only in the database. */
  signatures: z.enum(['keystore', 'public-key', 'not-checked']),
  /** SHA-256 (hex) of the trusted audit key's SubjectPublicKeyInfo, for the standalone verifier's --fingerprint. */
  auditKeyFingerprint: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
  /** The last checkpoint the keystore signed, as the keystore recorded it (null: none yet, or not checked). */
  anchor: z.object({ seq: z.number().int(), hash: text(64), at: text(40) }).nullable(),
  /** What this answer does not cover and what to do about it, for a person. */
  notice: text(500).nullable(),
});
export type AuditVerification = z.infer<typeof auditVerificationSchema>;

export const auditFileSchema = z.object({
  fileName: text(120),
  mimeType: text(60),
  // The whole log travels in one answer; 64 MiB is far above a branch's yearly volume.
  content: text(64 * 1024 * 1024),
});

const auditAccess = ['auditor', 'security_officer', 'manager'] as const;

export const auditChannels = {
  'audit:query': channel({
    summary: 'Audit entries, newest first, filtered and paginated',
    input: z
      .object({
        operator: text(64).optional(),
        actionPrefix: text(80).optional(),
        outcome: outcomeSchema.optional(),
        from: day.optional(),
        to: day.optional(),
        text: text(200).optional(),
        page: z.number().int().min(1).max(100_000).default(1),
        pageSize: z.number().int().min(1).max(200).default(50),
      })
      .strict(),
    output: z.object({
      total: z.number().int(),
      page: z.number().int(),
      pageSize: z.number().int(),
      entries: z.array(auditEntrySchema),
    }),
    access: auditAccess,
    mutates: false,
  }),
  'audit:verify': channel({
    summary: 'Check the hash chain and signed checkpoints; name the first broken entry',
    input: z.object({}).strict(),
    output: auditVerificationSchema,
    access: auditAccess,
    mutates: false,
  }),
  'audit:export': channel({
    summary: 'The whole log with what is needed to verify it elsewhere, as files to save',
    input: z.object({ format: z.enum(['json', 'csv']) }).strict(),
    output: z.object({ files: z.array(auditFileSchema) }),
    access: auditAccess,
    mutates: false,
  }),
  'audit:checkpoint': channel({
    summary: 'Sign the chain up to the newest entry now',
    input: z.object({}).strict(),
    output: z.object({ seq: z.number().int(), keyId: text(64), signedAt: text(40) }),
    access: ['auditor', 'security_officer'],
    mutates: true,
  }),
} as const;

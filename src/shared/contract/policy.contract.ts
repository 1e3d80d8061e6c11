import { z } from 'zod';
import { roleSchema } from './auth.contract';
import { approvalSchema } from './approval.contract';
import { channel, text } from './define';

/** Actions that policy may put under dual control. Another feature adds its action here and to the defaults. */
export const DUAL_CONTROL_ACTIONS = [
  'operator.unlock',
  'policy.update',
  'mailer.print',
  'mailer.reprint',
  'keys.ceremony',
  'keys.rotate',
  'keys.backup',
  'keys.restore',
  'recovery.unlock',
  /** Create, re-enable or reset the password of a manager or security officer; give or take either role. */
  'operator.privileged',
  /** RESET RETRY COUNTER on a blocked card (docs/activation.md). */
  'card.unblock',
  /** A new client of the verification service: an API key or a client certificate (docs/verification-service.md). */
  'verify_client.create',
] as const;
export type DualControlAction = (typeof DUAL_CONTROL_ACTIONS)[number];

/**
 * These stay under dual control whatever the policy says: one person alone must not be able to switch it off.
 * keys.restore replaces every key on the desk, so it weighs as much as a ceremony.
 */
export const MANDATORY_DUAL_CONTROL: readonly DualControlAction[] = [
  'operator.unlock',
  'policy.update',
  'keys.ceremony',
  'keys.backup',
  'keys.restore',
  'operator.privileged',
  // Lifts a support case's passkey lockout; source 004 claims 6 and 35 ask for it under dual control.
  'recovery.unlock',
];

export const PASSKEY_ALPHABETS = ['digits', 'base32-crockford', 'alphanumeric-unambiguous'] as const;

const whole = (label: string, min: number, max: number) =>
  z
    .number({ error: `${label} must be a number` })
    .int(`${label} must be a whole number`)
    .min(min, `${label} must be at least ${min}`)
    .max(max, `${label} must be at most ${max}`);

// Auditors stay independent of the actions they review, so they never approve one.
const approverRoleSchema = roleSchema.exclude(['auditor']);

export const dualControlRuleSchema = z
  .object({
    required: z.boolean(),
    approverRoles: z
      .array(approverRoleSchema)
      .min(1, 'Name at least one role that may approve')
      .max(4)
      .refine((roles) => new Set(roles).size === roles.length, 'List each approver role once'),
  })
  .strict();
export type DualControlRule = z.infer<typeof dualControlRuleSchema>;

export const policiesSchema = z
  .object({
    maxFailedSignIns: whole('Failed sign-ins before lockout', 3, 10),
    /** How long the first lockout lasts; each further lockout in a row lasts twice as long, up to lockoutMaxMinutes. */
    lockoutMinutes: whole('Lockout (minutes)', 1, 240),
    lockoutMaxMinutes: whole('Longest lockout (minutes)', 1, 10_080),
    sessionTimeoutMinutes: whole('Session timeout (minutes)', 1, 120),
    listLength: whole('Codes per list', 20, 500),
    codeDigits: whole('Code digits', 6, 10),
    refillThreshold: whole('Refill threshold', 1, 200),
    /**
     * How many positions from the next expected one a code is accepted at (forward-only use,
     * docs/lists.md). Each attempt is checked against this many codes, so a guesser's chance grows
     * with it: at most 20.
     */
    verifyLookAhead: whole('Codes accepted ahead', 1, 20),
    listExpiryDays: whole('List expiry (days)', 30, 1095),
    /** The emergency list printed while a reissued card is in the post (docs/reissue.md): short, and short-lived. */
    emergencyListLength: whole('Codes on an emergency sheet', 1, 50),
    emergencyListDays: whole('Emergency sheet validity (days)', 1, 60),
    pinRetries: whole('PIN retries', 3, 10),
    activationRetries: whole('Activation retries', 3, 10),
    passkeyLength: whole('Passkey length', 6, 16),
    passkeyAlphabet: z.enum(PASSKEY_ALPHABETS),
    passkeyMaxFailures: whole('Passkey failures before lockout', 1, 5),
    /**
     * Passkeys a support case sends before a manager must check the customer in person (docs/support.md
     * "How many passkeys"): each goes to the customer's phone or mailbox, so a desk cannot flood it.
     */
    passkeyMaxSends: whole('Passkeys sent per case', 1, 10),
    /** How long a support passkey may be read back or sent in (docs/support.md). */
    passkeyLifetimeMinutes: whole('Passkey lifetime (minutes)', 2, 60),
    auditCheckpointEvery: whole('Audit entries between signed checkpoints', 10, 10_000),
    approverResetWindowHours: whole('Hours before a password someone else set may approve', 1, 720),
    dualControl: z.record(z.enum(DUAL_CONTROL_ACTIONS), dualControlRuleSchema),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.refillThreshold >= p.listLength) {
      ctx.addIssue({
        code: 'custom',
        path: ['refillThreshold'],
        message: 'Refill threshold must be below the number of codes per list',
      });
    }
    if (p.lockoutMaxMinutes < p.lockoutMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['lockoutMaxMinutes'],
        message: 'Longest lockout must be at least the first lockout',
      });
    }
    for (const action of MANDATORY_DUAL_CONTROL) {
      if (!p.dualControl[action].required) {
        ctx.addIssue({
          code: 'custom',
          path: ['dualControl', action, 'required'],
          message: `${action} always needs a second approver`,
        });
      }
    }
  });
export type PolicyValues = z.infer<typeof policiesSchema>;

export const policyVersionSchema = z.object({
  /** 0 is the built-in defaults; every saved change is the next number. */
  version: z.number().int(),
  policies: policiesSchema,
  changedAt: text(40).nullable(),
  changedBy: text(64).nullable(),
  approvedBy: text(64).nullable(),
});

export const policyChannels = {
  'policy:get': channel({
    summary: 'The policies in force now, with their version',
    input: z.object({}).strict(),
    output: policyVersionSchema,
    access: 'signed-in',
    mutates: false,
  }),
  'policy:history': channel({
    summary: 'Earlier policy versions, newest first',
    input: z.object({ limit: z.number().int().min(1).max(100).default(20) }).strict(),
    output: z.object({ versions: z.array(policyVersionSchema) }),
    access: ['security_officer', 'auditor', 'manager'],
    mutates: false,
  }),
  'policy:update': channel({
    summary: 'Save new policies as the next version (needs a second approver)',
    input: z
      .object({
        /** The version the form was filled from; a newer one saved meanwhile is refused, not overwritten. */
        baseVersion: z.number().int().min(0),
        policies: policiesSchema,
        approval: approvalSchema.optional(),
      })
      .strict(),
    output: policyVersionSchema,
    access: ['security_officer'],
    mutates: true,
  }),
} as const;

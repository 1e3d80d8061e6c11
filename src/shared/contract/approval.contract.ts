import { z } from 'zod';
import { passwordSchema, usernameSchema } from './auth.contract';

/** A single-use challenge from `approval:begin`: URL-safe base64 of random bytes. */
export const approvalChallengeSchema = z.string().regex(/^[A-Za-z0-9_-]{22,64}$/, 'Ask for a new approval');

/**
 * A second operator's credentials, typed by that operator at the same desk, sent in the same call
 * as the action they approve, with the challenge `approval:begin` gave the initiator for that action.
 * The challenge is used up by that one call, approved or not. Any channel whose action may need dual
 * control takes `approval: approvalSchema.optional()`; main answers APPROVAL_REQUIRED when policy needs one.
 */
export const approvalSchema = z
  .object({ username: usernameSchema, password: passwordSchema, challenge: approvalChallengeSchema })
  .strict();
export type Approval = z.infer<typeof approvalSchema>;

import { z } from 'zod';
import { passwordSchema, usernameSchema } from './auth.contract';

/**
 * A second operator's credentials, typed by that operator at the same desk, sent in the same call
 * as the action they approve. Any channel whose action may need dual control takes
 * `approval: approvalSchema.optional()`; main answers APPROVAL_REQUIRED when policy needs one.
 */
export const approvalSchema = z.object({ username: usernameSchema, password: passwordSchema }).strict();
export type Approval = z.infer<typeof approvalSchema>;

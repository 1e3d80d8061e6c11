import { z } from 'zod';
import { approvalChallengeSchema } from './approval.contract';
import { channel, text } from './define';
import { DUAL_CONTROL_ACTIONS } from './policy.contract';

export const dualControlChannels = {
  'approval:begin': channel({
    summary: 'A single-use challenge that binds the next approval to this session and one dual-controlled action',
    input: z.object({ action: z.enum(DUAL_CONTROL_ACTIONS) }).strict(),
    output: z.object({ challenge: approvalChallengeSchema, action: z.enum(DUAL_CONTROL_ACTIONS), expiresAt: text(40) }),
    access: 'signed-in',
    mutates: false,
  }),
} as const;

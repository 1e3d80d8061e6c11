import { z } from 'zod';
import { newPasswordSchema, roleSchema, usernameSchema } from './auth.contract';
import { approvalSchema } from './approval.contract';
import { channel, nonEmpty, text } from './define';

export const operatorSchema = z.object({
  id: z.number().int(),
  username: text(64),
  displayName: text(120),
  role: roleSchema,
  locked: z.boolean(),
  disabled: z.boolean(),
  mustChangePassword: z.boolean(),
  failedAttempts: z.number().int(),
  lockedAt: text(40).nullable(),
  disabledAt: text(40).nullable(),
  createdAt: text(40),
  updatedAt: text(40),
});
export type OperatorInfo = z.infer<typeof operatorSchema>;

const operatorId = z.number().int().positive();

// Changes to a manager's or security officer's account (create, role to or from those, disable,
// enable, reset) need a second security officer: `approval` for the action operator.privileged.

export const adminChannels = {
  'admin:listOperators': channel({
    summary: 'Every operator with role and state',
    input: z.object({}).strict(),
    output: z.object({ operators: z.array(operatorSchema) }),
    access: ['security_officer'],
    mutates: false,
  }),
  'admin:createOperator': channel({
    summary: 'Create an operator with a temporary password they must change at first sign-in',
    input: z
      .object({
        username: usernameSchema,
        displayName: nonEmpty('Display name', 120),
        role: roleSchema,
        temporaryPassword: newPasswordSchema,
        approval: approvalSchema.optional(),
      })
      .strict(),
    output: operatorSchema,
    access: ['security_officer'],
    mutates: true,
  }),
  'admin:updateRole': channel({
    summary: "Change another operator's role; their sessions end",
    input: z.object({ operatorId, role: roleSchema, approval: approvalSchema.optional() }).strict(),
    output: operatorSchema,
    access: ['security_officer'],
    mutates: true,
  }),
  'admin:disableOperator': channel({
    summary: 'Disable an operator; their sessions end and they cannot sign in',
    input: z.object({ operatorId, approval: approvalSchema.optional() }).strict(),
    output: operatorSchema,
    access: ['security_officer'],
    mutates: true,
  }),
  'admin:enableOperator': channel({
    summary: 'Enable a disabled operator again',
    input: z.object({ operatorId, approval: approvalSchema.optional() }).strict(),
    output: operatorSchema,
    access: ['security_officer'],
    mutates: true,
  }),
  'admin:resetPassword': channel({
    summary: 'Set a temporary password the operator must change at next sign-in; their sessions end',
    input: z.object({ operatorId, temporaryPassword: newPasswordSchema, approval: approvalSchema.optional() }).strict(),
    output: operatorSchema,
    access: ['security_officer'],
    mutates: true,
  }),
  'admin:unlockOperator': channel({
    summary: 'Unlock an operator locked out by wrong passwords (needs a second approver)',
    input: z.object({ username: usernameSchema, approval: approvalSchema.optional() }).strict(),
    output: z.object({ username: text(64), approvedBy: text(64).nullable() }),
    access: ['manager', 'security_officer'],
    mutates: true,
  }),
} as const;

import { z } from 'zod';
import { ROLES } from '../roles';
import { channel, done, nonEmpty, none, text } from './define';

export const roleSchema = z.enum(ROLES);

export const usernameSchema = z
  .string()
  .trim()
  .min(3, 'User name needs at least 3 characters')
  .max(64, 'User name is longer than 64 characters')
  .regex(/^[a-zA-Z0-9._-]+$/, 'User name may hold letters, digits, dot, dash and underscore');

// Length only: passwords are compared in main and never echoed.
export const passwordSchema = z.string().min(1, 'Password is required').max(256, 'Password is too long');
export const newPasswordSchema = z
  .string()
  .min(12, 'Choose a password of at least 12 characters')
  .max(256, 'Password is too long');

export const sessionSchema = z.object({
  operatorId: z.number().int(),
  username: text(64),
  displayName: text(120),
  role: roleSchema,
  mustChangePassword: z.boolean(),
  expiresAt: text(40),
});
export type SessionInfo = z.infer<typeof sessionSchema>;

export const authStatusSchema = z.object({
  firstRun: z.boolean(),
  session: sessionSchema.nullable(),
});

export const authChannels = {
  'auth:status': channel({
    summary: 'Whether first-run set-up is needed, and who is signed in here',
    input: none,
    output: authStatusSchema,
    access: 'public',
    mutates: false,
  }),
  'auth:setupFirstOfficer': channel({
    summary: 'Create the initial security officer on a new workstation',
    input: z
      .object({
        username: usernameSchema,
        displayName: nonEmpty('Display name', 120),
        password: newPasswordSchema,
      })
      .strict(),
    output: sessionSchema,
    access: 'public',
    mutates: true,
  }),
  'auth:signIn': channel({
    summary: 'Sign in with user name and password',
    input: z.object({ username: usernameSchema, password: passwordSchema }).strict(),
    output: sessionSchema,
    access: 'public',
    mutates: true,
  }),
  'auth:signOut': channel({
    summary: 'Sign out of this desk',
    input: none,
    output: done,
    access: 'signed-in',
    mutates: true,
  }),
  'auth:changePassword': channel({
    summary: 'Change your own password',
    input: z.object({ currentPassword: passwordSchema, newPassword: newPasswordSchema }).strict(),
    output: done,
    access: 'signed-in',
    mutates: true,
  }),
} as const;

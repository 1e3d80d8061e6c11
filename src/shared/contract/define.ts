import { z } from 'zod';
import type { Role } from '../roles';

/**
 * Who may call a channel: anyone (sign-in screens), any signed-in operator, or the listed roles.
 * Main checks this before the handler runs.
 */
export type Access = 'public' | 'signed-in' | readonly Role[];

export interface ChannelDef<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly input: I;
  readonly output: O;
  readonly access: Access;
  /** True when a call changes state; every such call writes an audit entry. */
  readonly mutates: boolean;
  /** One line for the contract's documentation and error messages. */
  readonly summary: string;
}

export function channel<I extends z.ZodType, O extends z.ZodType>(def: ChannelDef<I, O>): ChannelDef<I, O> {
  return def;
}

/** Bounded text: every string crossing the contract has a maximum length. */
export const text = (max = 200) => z.string().max(max);
export const nonEmpty = (label: string, max = 200) =>
  z.string().trim().min(1, `${label} is required`).max(max, `${label} is longer than ${max} characters`);
export const none = z.object({}).strict();
export const done = z.object({ done: z.literal(true) });

export const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  /** Which input fields were wrong, for forms. */
  fields: z.record(z.string(), z.string()).optional(),
});
export type ContractError = z.infer<typeof errorSchema>;

export type Result<T> = { ok: true; value: T } | { ok: false; error: ContractError };

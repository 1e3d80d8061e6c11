import { z } from 'zod';
import { text } from './define';

// Events pushed from main to every window. Same shapes over the preload bridge and the loopback host.

export const readerSnapshotSchema = z.object({
  /** 'unavailable' when this desk has no PC/SC service; 'training' for the in-process training reader. */
  service: z.enum(['starting', 'running', 'pcscd-down', 'recovering', 'unavailable', 'training']),
  message: text(300).optional(),
  readers: z.array(
    z.object({
      name: text(200),
      cardPresent: z.boolean(),
      atr: text(200).optional(),
      card: z
        .object({
          cardId: text(64),
          lifeCycle: text(40),
          n: text(40).optional(),
          codesRemaining: z.number().int().optional(),
          codesUsed: z.number().int().optional(),
          lowCodes: z.boolean().optional(),
        })
        .optional(),
      error: text(300).optional(),
    }),
  ),
});
export type ReaderSnapshot = z.infer<typeof readerSnapshotSchema>;

export const eventSchemas = {
  'reader:changed': readerSnapshotSchema,
  /** Something the current operator sees changed; the UI refetches the named query domains. */
  'data:changed': z.object({ domains: z.array(text(40)) }),
  'session:ended': z.object({ reason: z.enum(['signed-out', 'timeout', 'disabled']) }),
  /** To the one client enrolling: how far its enrollment is (enrollment.contract.ts). */
  'enrollment:progress': z.object({
    reader: text(200),
    step: z.enum(['reading', 'binding', 'personalising', 'checking', 'finishing', 'done']),
  }),
  /** To the one client pushing a list: the step, and bytes sent while sending (push.contract.ts). */
  'push:progress': z.object({
    reader: text(200),
    step: z.enum(['reading', 'sealing', 'sending', 'committing', 'confirming', 'done']),
    sent: z.number().int().nonnegative().optional(),
    total: z.number().int().nonnegative().optional(),
  }),
  /** A mailer batch's progress, sent only to the desk that runs it. */
  'mailer:progress': z.object({
    batch: text(40),
    done: z.number().int(),
    total: z.number().int(),
    n: text(64).optional(),
    result: z.enum(['printed', 'failed', 'uncertain', 'skipped']).optional(),
  }),
} as const;

export type EventName = keyof typeof eventSchemas;
export type EventPayload<E extends EventName> = z.infer<(typeof eventSchemas)[E]>;

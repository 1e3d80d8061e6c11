import { z } from 'zod';
import { PAGES } from '../roles';
import { channel, none, text } from './define';

export const systemInfoSchema = z.object({
  product: text(80),
  version: text(40),
  /** How the UI reaches main: the Electron preload bridge, or the loopback browser host. */
  shell: z.enum(['electron', 'browser']),
  schemaVersion: z.number().int(),
  dataDir: text(1000),
});

export const dashboardSchema = z.object({
  operators: z.number().int(),
  lockedOperators: z.number().int(),
  /** Figures read from the audit trail: present only for roles that may read it (audit:query's rule). */
  audit: z
    .object({
      entriesToday: z.number().int(),
      failedSignInsToday: z.number().int(),
      recent: z.array(
        z.object({
          seq: z.number().int(),
          at: text(40),
          operator: text(64).nullable(),
          action: text(80),
          outcome: z.enum(['ok', 'denied', 'failed']),
        }),
      ),
    })
    .optional(),
});

export const pageOpenSchema = z.object({
  page: z.enum(PAGES),
  /** 'ready' pages work; 'planned' pages say what will come and in which piece of work. */
  status: z.enum(['ready', 'planned']),
  note: text(400),
});

export const systemChannels = {
  'nav:open': channel({
    summary: 'Open a page: main checks the role before the page shows anything',
    input: z.object({ page: z.enum(PAGES) }).strict(),
    output: pageOpenSchema,
    access: 'signed-in',
    mutates: false,
  }),
  'system:info': channel({
    summary: 'Product, version, shell and database schema',
    input: none,
    output: systemInfoSchema,
    access: 'signed-in',
    mutates: false,
  }),
  'dashboard:summary': channel({
    summary: 'Figures for the dashboard',
    input: none,
    output: dashboardSchema,
    access: 'signed-in',
    mutates: false,
  }),
} as const;

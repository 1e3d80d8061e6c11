import { z } from 'zod';
import { PAGE_ACCESS } from '../roles';
import { channel, text } from './define';

// The usage review (issue 10 item 4, docs/usage-review.md): what was issued, used and refused, and
// what looks like a clone, per card, customer and branch over a range of UTC days. Read-only; the
// same filters drive the summary, the tables, the charts and the CSV export (src/host).

/** Why core `verify` refused a code (migration 0012, docs/lists.md "Using a code"). */
export const REJECTION_REASONS = [
  'unknown_n',
  'card_blocked',
  'card_terminated',
  'card_not_active',
  'no_active_list',
  'table_disabled',
  'table_expired',
  'already_used',
  'not_expected_position',
  'wrong_code',
  'too_many_failures',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export const SUSPICION_KINDS = ['code_replayed', 'disabled_table_used', 'blocked_card_used', 'counter_drift'] as const;

// A real calendar day, not just its shape: 2026-13-45 is refused here, never reaches a query.
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'Use a date like 2025-01-31')
  .refine((d) => {
    const t = Date.parse(`${d}T00:00:00.000Z`);
    return !Number.isNaN(t) && new Date(t).toISOString().startsWith(d);
  }, 'That day does not exist in the calendar');

/** What every usage channel is narrowed by; each field left out means "all". Days are UTC, inclusive. */
export const usageFilterSchema = z
  .object({
    from: day.optional(),
    to: day.optional(),
    branch: text(80).optional(),
    /** A customer's name (start of a word) or reference, a card id or an N. */
    q: text(80).optional(),
    reason: z.enum(REJECTION_REASONS).optional(),
  })
  .strict()
  .refine((f) => !f.from || !f.to || f.from <= f.to, { message: 'The range ends before it starts', path: ['to'] });
export type UsageFilter = z.output<typeof usageFilterSchema>;

export const USAGE_GROUPS = ['card', 'customer', 'branch'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];
export const USAGE_SORTS = [
  'key',
  'customer',
  'branch',
  'issued',
  'used',
  'remaining',
  'usesInRange',
  'rejections',
  'suspicions',
] as const;
export type UsageSort = (typeof USAGE_SORTS)[number];

/** Largest page the tables ask for; the virtual table fetches the pages it scrolls to. */
export const USAGE_MAX_PAGE_SIZE = 500;

const count = z.number().int();

export const usageRowSchema = z.object({
  /** The card id, the customer's reference (or name), or the branch. */
  key: text(200),
  cardId: text(64).nullable(),
  n: text(40).nullable(),
  cardState: text(40).nullable(),
  customer: text(200).nullable(),
  customerRef: text(64).nullable(),
  branch: text(80),
  cards: count,
  /** Codes on the lists delivered to the cards (active, superseded, disabled). */
  issued: count,
  /** Of those, marked used (all time). */
  used: count,
  /** Still usable: the active lists' codes not yet used. */
  remaining: count,
  /** Active lists at or past their refill threshold. */
  refillsDue: count,
  usesInRange: count,
  rejections: count,
  suspicions: count,
  openSuspicions: count,
  /** The latest counter comparison's drift (server minus card; > 0 a probable clone); null: never compared. */
  drift: z.number().int().nullable(),
});
export type UsageRow = z.infer<typeof usageRowSchema>;

export const usageSummarySchema = z.object({
  cards: count,
  issued: count,
  used: count,
  remaining: count,
  refillsDue: count,
  usesInRange: count,
  rejections: count,
  rejectionsByReason: z.array(z.object({ reason: z.enum(REJECTION_REASONS), count })),
  suspicions: count,
  openSuspicions: count,
  /** The largest drift among the cards' latest counter comparisons; null: none compared. */
  maxDrift: z.number().int().nullable(),
  /** One entry per UTC day with a use or a refusal in the range (days without are left out). */
  perDay: z.array(
    z.object({
      day,
      uses: count,
      rejections: z.array(z.object({ reason: z.enum(REJECTION_REASONS), count })),
    }),
  ),
  byBranch: z.array(z.object({ branch: text(80), cards: count, remaining: count, refillsDue: count })),
});
export type UsageSummary = z.infer<typeof usageSummarySchema>;

export const suspicionRowSchema = z.object({
  id: count,
  cardId: text(64),
  n: text(40),
  customer: text(200),
  branch: text(80),
  kind: z.enum(SUSPICION_KINDS),
  codeIndex: z.number().int().nullable(),
  drift: z.number().int().nullable(),
  source: text(64),
  occurredAt: text(40),
  resolvedAt: text(40).nullable(),
  resolvedBy: text(64).nullable(),
  resolution: text(40).nullable(),
});
export type SuspicionRow = z.infer<typeof suspicionRowSchema>;

const paging = {
  page: z.number().int().min(1).max(1_000_000).default(1),
  pageSize: z.number().int().min(1).max(USAGE_MAX_PAGE_SIZE).default(100),
};

const usageAccess = PAGE_ACCESS.usage;

/**
 * Where browser mode serves the usage table as CSV (src/host), with the filters as search parameters
 * (from, to, branch, q, reason, by). Not a channel: the file is streamed, never one answer.
 */
export const USAGE_CSV_PATH = '/export/usage.csv';

export const usageChannels = {
  'usage:summary': channel({
    summary: 'Usage totals, uses and refusals per day, codes remaining and refills due per branch',
    input: z.object({ filter: usageFilterSchema.default({}) }).strict(),
    output: usageSummarySchema,
    access: usageAccess,
    mutates: false,
  }),
  'usage:rows': channel({
    summary: 'Usage per card, customer or branch: one sorted page',
    input: z
      .object({
        filter: usageFilterSchema.default({}),
        by: z.enum(USAGE_GROUPS).default('card'),
        sort: z.enum(USAGE_SORTS).default('key'),
        desc: z.boolean().default(false),
        ...paging,
      })
      .strict(),
    output: z.object({ total: count, page: count, pageSize: count, rows: z.array(usageRowSchema) }),
    access: usageAccess,
    mutates: false,
  }),
  'usage:suspicions': channel({
    summary: 'Suspicion events (clone detection), newest first, one page',
    input: z
      .object({ filter: usageFilterSchema.default({}), openOnly: z.boolean().default(false), ...paging })
      .strict(),
    output: z.object({ total: count, page: count, pageSize: count, rows: z.array(suspicionRowSchema) }),
    access: usageAccess,
    mutates: false,
  }),
  'usage:export': channel({
    summary: 'Save the usage table as CSV to a file the operator picks (Electron; browser mode downloads it)',
    input: z.object({ filter: usageFilterSchema.default({}), by: z.enum(USAGE_GROUPS).default('card') }).strict(),
    output: z.object({ status: z.enum(['saved', 'cancelled']), rows: count }),
    access: usageAccess,
    mutates: false,
  }),
} as const;

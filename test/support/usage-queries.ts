import type { Database } from '../../src/core/db/database';
import { BRANCH_DAYS_SQL, FOLD_READ_SQL } from '../../src/core/usage/usage-rollup';

// The usage review's main questions as SQL (issue 10 items 4 and 5): per card, per customer and per
// branch over a time range, refusals by reason, open suspicion events, refills due. The query-plan
// test proves each is answered through indexes, and bench/verify.bench.ts times them on the 1M-card
// seed. The review's own repository should run its queries through `tableScans` the same way.

export interface UsageQuery {
  readonly name: string;
  readonly sql: string;
  /** Parameters for a seeded database (scripts/seed-usage.ts): card 1's N, its customer, Branch 01. */
  readonly params: (seeded: { n: string; customerId: number; branch: string; from: string; to: string }) => unknown[];
}

export const USAGE_QUERIES: readonly UsageQuery[] = [
  {
    name: 'uses_per_day_of_card',
    sql: `SELECT substr(u.used_at, 1, 10) AS day, COUNT(*) AS uses
            FROM cards c JOIN code_lists l ON l.card_ref = c.id JOIN code_uses u ON u.list_ref = l.id
           WHERE c.n = ? AND u.used_at >= ? AND u.used_at < ?
           GROUP BY day ORDER BY day`,
    params: (s) => [s.n, s.from, s.to],
  },
  {
    name: 'codes_of_customer',
    sql: `SELECT c.n, l.seq, l.state, l.length AS issued, l.used_count AS used,
                 l.length - (l.next_index - 1) AS remaining, l.refill_due
            FROM cards c JOIN code_lists l ON l.card_ref = c.id
           WHERE c.customer_id = ?
           ORDER BY c.id, l.seq DESC`,
    params: (s) => [s.customerId],
  },
  {
    // What the review reads (migration 0019): the daily rollup, kept up to date by the fold below.
    name: 'uses_per_day_of_branch',
    sql: BRANCH_DAYS_SQL,
    params: (s) => [s.branch, s.from.slice(0, 10), s.to.slice(0, 10)],
  },
  {
    // The fold of new use marks into the rollup: here a day's worth at the 1M-card seed (55k marks).
    name: 'fold_a_day_of_uses',
    sql: FOLD_READ_SQL,
    params: () => [0, 55_000],
  },
  {
    // The same figures straight from the use marks: the baseline the rollup replaced.
    name: 'uses_per_day_of_branch_unrolled',
    sql: `SELECT substr(u.used_at, 1, 10) AS day, COUNT(*) AS uses
            FROM customers cu JOIN cards c ON c.customer_id = cu.id JOIN code_lists l ON l.card_ref = c.id
            JOIN code_uses u ON u.list_ref = l.id
           WHERE cu.branch = ? AND u.used_at >= ? AND u.used_at < ?
           GROUP BY day ORDER BY day`,
    // The same whole days as the rollup: used_at from the first day's start, before the last day's.
    params: (s) => [s.branch, s.from.slice(0, 10), s.to.slice(0, 10)],
  },
  {
    name: 'rejections_by_reason',
    sql: `SELECT reason, COUNT(*) AS n FROM verify_rejections
           WHERE reason IN ('wrong_code', 'already_used', 'table_disabled') AND at >= ? AND at < ?
           GROUP BY reason`,
    params: (s) => [s.from, s.to],
  },
  {
    name: 'rejections_of_branch',
    sql: `SELECT r.reason, COUNT(*) AS n
            FROM customers cu JOIN cards c ON c.customer_id = cu.id JOIN verify_rejections r ON r.card_ref = c.id
           WHERE cu.branch = ? AND r.at >= ? AND r.at < ?
           GROUP BY r.reason`,
    params: (s) => [s.branch, s.from, s.to],
  },
  {
    name: 'open_suspicion_events',
    sql: `SELECT e.id, c.n, e.kind, e.drift, e.occurred_at
            FROM suspicion_events e JOIN cards c ON c.id = e.card_ref
           WHERE e.resolved_at IS NULL
           ORDER BY e.occurred_at DESC LIMIT 50`,
    params: () => [],
  },
  {
    name: 'refills_due_of_branch',
    sql: `SELECT c.n, l.seq, l.length - (l.next_index - 1) AS remaining
            FROM code_lists l JOIN cards c ON c.id = l.card_ref JOIN customers cu ON cu.id = c.customer_id
           WHERE l.refill_due = 1 AND l.state = 'active' AND cu.branch = ?
           ORDER BY c.n LIMIT 100`,
    params: (s) => [s.branch],
  },
];

/** EXPLAIN QUERY PLAN's lines for one statement. */
export function queryPlan(db: Database, sql: string, params?: readonly unknown[]): string[] {
  // Without parameters (a statement recorded from the code), each is bound to NULL: the plan is the
  // same shape, since SQLite plans before it sees the values (statistics decide, not the value).
  const text = params ? sql : sql.replace(/(?<![\w'])[@:$][A-Za-z_]\w*/g, '?');
  const values = params ?? Array.from({ length: (text.match(/\?/g) ?? []).length }, () => null);
  const rows = db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...values) as { detail: string }[];
  return rows.map((r) => r.detail);
}

/**
 * The plan lines that read a whole table or index ("SCAN t", "SCAN t USING INDEX i"). A lookup reads
 * "SEARCH t USING … INDEX"; a scan of a partial index reads only the rows its WHERE selected (the open
 * events, the lists due a refill), which is what it is for; scans of a CTE or a constant row are not
 * table reads.
 */
export function tableScans(db: Database, plan: readonly string[]): string[] {
  const partial = new Set(
    (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'").all() as {
        name: string;
      }[]
    ).map((r) => r.name),
  );
  return plan.filter((line) => {
    if (!/^SCAN /.test(line) || /^SCAN CONSTANT ROW/.test(line)) return false;
    const index = /USING (?:COVERING )?INDEX (\S+)/.exec(line)?.[1];
    return !(index && partial.has(index));
  });
}

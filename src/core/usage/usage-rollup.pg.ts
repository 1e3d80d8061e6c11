import type { PgQueryable, PgTransactor } from '../db/pg/pg-database';
import { ADD_SQL, FOLD_DAYS_READ_SQL } from './usage-rollup';

// The daily rollup on PostgreSQL (issue 12; docs/usage-review.md "PostgreSQL: folding by closed
// days"). SQLite folds by rowid because its one writer commits rows in rowid order. PostgreSQL has
// many writers (every verification instance) and no commit-ordered id: a use mark with a smaller
// key or an earlier used_at can commit after a later one. So the fold never chases individual
// marks: it closes whole days. A day is folded only once it ended more than FOLD_MARGIN_MS ago —
// by then every use mark stamped in it has committed or never will — and `folded_before` (migration
// 0022) names the first day not folded. Readers take the rollup for the days before it and count
// the days from it on live from code_uses, in ONE statement (one snapshot), so every committed use
// mark is counted exactly once, in whatever order the marks and the folds commit.

/**
 * How long after a day ends it may be folded: longer than any use mark's transaction can take from
 * its timestamp to its commit, plus any difference between a verification instance's clock (which
 * stamps used_at) and the database server's (which says when a day ended). A use mark's transaction
 * is milliseconds (one UPDATE and one INSERT, retried for at most seconds); the margin is far above
 * that so that a stalled process (a paused VM, a connection hanging until TCP gives up) or a clock
 * off by minutes still lands in an unfolded day. The cost of a long margin is small: the review
 * counts at most the last day and a half live. Set `idle_in_transaction_session_timeout` for the
 * verification role well below it so no transaction can outlive it (docs/usage-review.md).
 */
export const FOLD_MARGIN_MS = 12 * 60 * 60 * 1000;

/** Days folded per step: a first fold of a long history commits a month at a time. */
export const FOLD_DAYS = 31;

const MARK_SQL = 'SELECT folded_before, generation FROM code_use_days_mark WHERE id = 1';
const FIRST_USE_SQL = 'SELECT MIN(used_at) AS first FROM code_uses';
const SERVER_NOW_SQL = 'SELECT CURRENT_TIMESTAMP AS now';
// The compare-and-set that decides a fold step: another fold or a branch move (the trigger of
// migration 0022 bumps `generation`) makes it change nothing, and the step's read is thrown away.
export const FOLD_MOVE_SQL = `UPDATE code_use_days_mark SET folded_before = ?
  WHERE id = 1 AND COALESCE(folded_before, '') = ? AND generation = ? RETURNING id`;

/** The use marks of one branch per day in [from, to): folded days from the rollup, the rest live. */
export const PG_BRANCH_DAYS_SQL = `SELECT day, CAST(SUM(uses) AS BIGINT) AS uses FROM (
    SELECT d.day AS day, d.uses AS uses FROM code_use_days d JOIN code_use_days_mark m ON m.id = 1
     WHERE d.branch = ? AND d.day >= ? AND d.day < ? AND d.day < COALESCE(m.folded_before, '')
    UNION ALL
    SELECT substr(u.used_at, 1, 10) AS day, count(*) AS uses
      FROM code_uses u JOIN code_use_days_mark m ON m.id = 1 JOIN code_lists l ON l.id = u.list_ref
      JOIN cards c ON c.id = l.card_ref JOIN customers cu ON cu.id = c.customer_id
     WHERE cu.branch = ? AND u.used_at >= COALESCE(m.folded_before, '') AND u.used_at >= ? AND u.used_at < ?
     GROUP BY substr(u.used_at, 1, 10)
  ) AS t GROUP BY day HAVING SUM(uses) > 0 ORDER BY day`;

/** Every branch's use marks per day in [from, to): folded days from the rollup, the rest live. */
export const PG_ALL_DAYS_SQL = `SELECT day, CAST(SUM(uses) AS BIGINT) AS uses FROM (
    SELECT d.day AS day, d.uses AS uses FROM code_use_days d JOIN code_use_days_mark m ON m.id = 1
     WHERE d.day >= ? AND d.day < ? AND d.day < COALESCE(m.folded_before, '')
    UNION ALL
    SELECT substr(u.used_at, 1, 10) AS day, count(*) AS uses
      FROM code_uses u JOIN code_use_days_mark m ON m.id = 1
     WHERE u.used_at >= COALESCE(m.folded_before, '') AND u.used_at >= ? AND u.used_at < ?
     GROUP BY substr(u.used_at, 1, 10)
  ) AS t GROUP BY day HAVING SUM(uses) > 0 ORDER BY day`;

interface Mark {
  folded_before: string | null;
  generation: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const addDays = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00.000Z`) + n * DAY_MS).toISOString().slice(0, 10);

/** The database server's clock: one clock for every desk that folds. */
export async function serverNow(db: PgQueryable): Promise<Date> {
  const [row] = await db.query<{ now: Date }>(SERVER_NOW_SQL);
  if (!row) throw new Error('the server did not tell its time');
  return row.now;
}

/**
 * The first day a fold at `now` may not close: every day before it ended FOLD_MARGIN_MS or more
 * before `now`.
 */
export function foldHorizon(now: Date, marginMs = FOLD_MARGIN_MS): string {
  return new Date(now.getTime() - marginMs).toISOString().slice(0, 10);
}

/**
 * Folds every closed day (see FOLD_MARGIN_MS) not folded yet into code_use_days; returns how many
 * use marks this call folded (0 when another desk folded them first). Cheap when nothing is due:
 * one read of the mark. Each step reads its days' use marks outside any transaction, then in a
 * short one moves the mark by compare-and-set and adds the groups — or, when another fold or a
 * branch move got there first, adds nothing and reads again.
 */
export async function foldUsesPg(db: PgTransactor, now: Date, chunkDays = FOLD_DAYS): Promise<number> {
  const horizon = foldHorizon(now);
  let folded = 0;
  for (let misses = 0; misses < 100;) {
    const [mark] = await db.query<Mark & Record<string, unknown>>(MARK_SQL);
    if (!mark) throw new Error('code_use_days_mark has no row: the schema is incomplete');
    if (mark.folded_before !== null && mark.folded_before >= horizon) return folded;
    let start = mark.folded_before;
    if (start === null) {
      // Nothing folded yet: start at the first use mark's day (none yet: the mark moves to the horizon).
      const [first] = await db.query<{ first: string | null }>(FIRST_USE_SQL);
      start = first?.first ? first.first.slice(0, 10) : horizon;
    }
    const upTo = start < horizon ? [addDays(start, chunkDays), horizon].sort()[0]! : horizon;
    const groups = await db.query<{ branch: string; day: string; uses: number }>(FOLD_DAYS_READ_SQL, [
      mark.folded_before ?? '',
      upTo,
    ]);
    const moved = await db.transaction(async (tx) => {
      const won = await tx.query(FOLD_MOVE_SQL, [upTo, mark.folded_before ?? '', mark.generation]);
      if (won.length === 0) return false;
      for (const g of groups) await tx.query(ADD_SQL, [g.branch, g.day, g.uses]);
      return true;
    }, 'read committed');
    if (moved) folded += groups.reduce((sum, g) => sum + g.uses, 0);
    else misses++;
  }
  throw new Error('the usage rollup could not catch up: the mark kept moving');
}

import type { Database } from '../db/database';

// The use marks folded into uses per branch and day (migration 0019, docs/usage-review.md "Speed").
// A fold reads the use marks newer than the mark (by rowid: code_uses only ever gains rows, and one
// writer at a time gives every committed row a rowid above those committed before it), grouped by
// branch and day, OUTSIDE any write transaction; then, in a short one, adds the groups and moves the
// mark — unless someone else folded or a customer changed branch meanwhile (the mark or its
// generation moved), in which case the read is thrown away and done again. So the write lock, which
// the verification service needs for every use mark, is held only for a few hundred small upserts,
// and no verification writes anything more than before.

/** Some use marks as branch × day counts: what a fold adds to the rollup. */
const foldRead = (where: string) => `SELECT cu.branch AS branch, substr(u.used_at, 1, 10) AS day, count(*) AS uses
  FROM code_uses u JOIN code_lists l ON l.id = u.list_ref JOIN cards c ON c.id = l.card_ref
  JOIN customers cu ON cu.id = c.customer_id
  WHERE ${where}
  GROUP BY cu.branch, substr(u.used_at, 1, 10)`;

/** The use marks after the mark, up to a rowid, as branch × day counts. */
export const FOLD_READ_SQL = foldRead('u.rowid > ? AND u.rowid <= ?');

/** The use marks of the days in [from, before) as branch × day counts (PostgreSQL's fold, usage-rollup.pg.ts). */
export const FOLD_DAYS_READ_SQL = foldRead('u.used_at >= ? AND u.used_at < ?');

/** One branch's uses per day in [from, to) (days as YYYY-MM-DD), from the rollup. */
export const BRANCH_DAYS_SQL = `SELECT day, uses FROM code_use_days
  WHERE branch = ? AND day >= ? AND day < ? AND uses > 0 ORDER BY day`;

/** Every branch's uses per day in [from, to), summed, from the rollup. */
export const ALL_DAYS_SQL = `SELECT day, SUM(uses) AS uses FROM code_use_days
  WHERE day >= ? AND day < ? GROUP BY day HAVING SUM(uses) > 0 ORDER BY day`;

const MARK_SQL = 'SELECT through_rowid AS through, generation FROM code_use_days_mark WHERE id = 1';
const NEWEST_SQL = 'SELECT COALESCE(MAX(rowid), 0) AS newest FROM code_uses';
/** Adds a group's uses to its branch and day. The column is named with its table: PostgreSQL finds a
 * bare `uses` ambiguous beside `excluded.uses`; SQLite reads both forms alike. */
export const ADD_SQL = `INSERT INTO code_use_days (branch, day, uses) VALUES (?, ?, ?)
  ON CONFLICT (branch, day) DO UPDATE SET uses = code_use_days.uses + excluded.uses`;
const MOVE_SQL =
  'UPDATE code_use_days_mark SET through_rowid = ? WHERE id = 1 AND through_rowid = ? AND generation = ?';

/** Use marks read per fold step: a first fold of 20 million commits every this many. */
export const FOLD_CHUNK = 1_000_000;

interface Mark {
  through: number;
  generation: number;
}

/**
 * Folds every use mark committed so far into code_use_days; returns how many were folded. Cheap when
 * nothing is new (two index reads). Inside a caller's transaction it folds within it.
 */
export function foldUses(db: Database, chunk = FOLD_CHUNK): number {
  let folded = 0;
  for (let misses = 0; misses < 100;) {
    const mark = db.prepare(MARK_SQL).get() as Mark;
    const newest = (db.prepare(NEWEST_SQL).get() as { newest: number }).newest;
    if (newest <= mark.through) return folded;
    const upTo = Math.min(newest, mark.through + chunk);
    const groups = db.prepare(FOLD_READ_SQL).all(mark.through, upTo) as { branch: string; day: string; uses: number }[];
    const own = !db.inTransaction;
    if (own) db.prepare('BEGIN IMMEDIATE').run();
    try {
      // The compare-and-set on the mark decides: a concurrent fold or a branch move makes it a no-op.
      const moved = db.prepare(MOVE_SQL).run(upTo, mark.through, mark.generation).changes === 1;
      if (moved) {
        const add = db.prepare(ADD_SQL);
        for (const g of groups) add.run(g.branch, g.day, g.uses);
        folded += groups.reduce((sum, g) => sum + g.uses, 0);
      } else misses++;
      if (own) db.prepare('COMMIT').run();
    } catch (err) {
      if (own && db.inTransaction) db.prepare('ROLLBACK').run();
      throw err;
    }
  }
  throw new Error('the usage rollup could not catch up: the mark kept moving');
}

import type { Migration } from '../migration';

// Uses per branch and day, rolled up (issue 10 item 5; docs/usage-review.md "Speed"). At a million
// cards "uses per day in one branch over a quarter" read ~210k use marks through four index hops
// (0.5–1 s). The rollup holds one row per branch and day; src/core/usage/usage-rollup.ts folds the
// use marks into it by rowid (code_uses only ever gains rows: a use mark is never changed or
// deleted), so nothing is added to a verification's own transaction. `through_rowid` says how far
// the fold has gone; the review folds what is newer before it reads, so its figures stay exact.
//
// A customer who moves to another branch takes their history along (the review groups by the
// customer's branch of now, as its other per-branch figures do): the trigger moves the customer's
// folded uses from the old branch's days to the new one's, and bumps `generation` so a fold that
// read its rows before the move discards them instead of writing them under the old branch.

export const migration0019: Migration = {
  version: 19,
  name: 'usage-day-rollup',
  up(db) {
    db.exec(`
      CREATE TABLE code_use_days (
        branch TEXT NOT NULL,
        day TEXT NOT NULL CHECK (length(day) = 10),
        uses INTEGER NOT NULL,
        PRIMARY KEY (branch, day)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE code_use_days_mark (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        through_rowid INTEGER NOT NULL,
        generation INTEGER NOT NULL
      ) STRICT;
      INSERT INTO code_use_days_mark (id, through_rowid, generation) VALUES (1, 0, 0);

      CREATE TRIGGER code_use_days_follow_branch AFTER UPDATE OF branch ON customers
        WHEN NEW.branch IS NOT OLD.branch
      BEGIN
        INSERT INTO code_use_days (branch, day, uses)
          SELECT b.branch, d.day, d.uses * b.sign
            FROM (SELECT substr(u.used_at, 1, 10) AS day, count(*) AS uses
                    FROM cards c JOIN code_lists l ON l.card_ref = c.id JOIN code_uses u ON u.list_ref = l.id
                   WHERE c.customer_id = NEW.id
                     AND u.rowid <= (SELECT through_rowid FROM code_use_days_mark WHERE id = 1)
                   GROUP BY substr(u.used_at, 1, 10)) AS d,
                 (SELECT OLD.branch AS branch, -1 AS sign UNION ALL SELECT NEW.branch, 1) AS b
           WHERE true
        ON CONFLICT (branch, day) DO UPDATE SET uses = uses + excluded.uses;
        DELETE FROM code_use_days WHERE branch = OLD.branch AND uses = 0;
        UPDATE code_use_days_mark SET generation = generation + 1 WHERE id = 1;
      END;
    `);
  },
};

import type { Migration } from '../migration';

// The daily rollup's mark for the engine with many writers (issue 12; docs/usage-review.md
// "PostgreSQL"). SQLite folds use marks by rowid, its commit order with one writer
// (code_use_days_mark.through_rowid, migration 0019), and never uses this column. PostgreSQL has no
// commit-ordered id: there the fold closes whole days once they ended longer ago than any use mark's
// transaction can take, and `folded_before` is the first day not folded (NULL: none yet); the days
// from it on are read live from code_uses. Its PostgreSQL form also lets a branch move carry the
// customer's folded days along (as SQLite's trigger does) instead of emptying the rollup.

export const migration0022: Migration = {
  version: 22,
  name: 'usage-rollup-by-day',
  up(db) {
    db.exec(`
      ALTER TABLE code_use_days_mark ADD COLUMN folded_before TEXT
        CHECK (folded_before IS NULL OR length(folded_before) = 10);
    `);
  },
};

import type { Migration } from '../migration';

// A lockout ends at locked_until (ms since the epoch) instead of lasting until someone unlocks it,
// and lockout_count makes each repeated lockout last longer. An account locked before this
// migration stays locked for the default 15 minutes from its lock time, counted as one lockout.
export const migration0004: Migration = {
  version: 4,
  name: 'timed-lockout',
  up(db) {
    db.exec(`
      ALTER TABLE operators ADD COLUMN locked_until INTEGER CHECK (locked_until IS NULL OR locked_until >= 0);
      ALTER TABLE operators ADD COLUMN lockout_count INTEGER NOT NULL DEFAULT 0 CHECK (lockout_count >= 0);
      UPDATE operators
         SET locked_until = CAST((julianday(locked_at) - 2440587.5) * 86400000 AS INTEGER) + 15 * 60000,
             lockout_count = 1
       WHERE locked_at IS NOT NULL;
    `);
  },
};

import type { Migration } from '../migration';

// Issue 12, the outside review's holes (b) and (c).
//
// (b) A per-operator session epoch: a counter every change that must end the operator's sessions
// moves by one in the same statement as the change (an administrative change — disable, enable,
// lock, unlock, re-role, password reset —, the sign-in lockout, the own-password change). A session
// keeps the value it was opened with and the router ends it once the row says otherwise, so a
// disable undone before another desk's next call (disable → enable, lock → unlock, re-role and
// back) still ends that desk's session. A counter rather than a time stamp: desks' clocks differ,
// and two changes in the same millisecond, or a clock set back, would give a stamp a session could
// still match; `session_epoch + 1` in the UPDATE cannot repeat and needs no clock.
//
// (c) The audit chain head's guards are PostgreSQL's only (its PostgreSQL form, pg-migrations.ts):
// SQLite has no head table — its chain's head is its last row, written by the desk's one process —
// and no database login separate from the file's owner whose rights a trigger could limit.
export const migration0023: Migration = {
  version: 23,
  name: 'session-epoch-and-chain-head',
  up(db) {
    db.exec(`
      ALTER TABLE operators ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0 CHECK (session_epoch >= 0);
    `);
  },
};

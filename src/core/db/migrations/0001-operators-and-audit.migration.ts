import type { Migration } from '../migration';

// Operators who sign in at the desk, and the append-only audit trail of what they do.
// The audit row carries prev_hash/hash from the start so the tamper-evident chain needs no rewrite.
export const migration0001: Migration = {
  version: 1,
  name: 'operators-and-audit',
  up(db) {
    db.exec(`
      CREATE TABLE operators (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('clerk','manager','support','security_officer','auditor')),
        password_hash TEXT NOT NULL,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_at TEXT,
        disabled_at TEXT,
        must_change_password INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        operator_id INTEGER,
        operator TEXT,
        role TEXT,
        action TEXT NOT NULL,
        object TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('ok','denied','failed')),
        details TEXT NOT NULL DEFAULT '{}',
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_log_action ON audit_log(action);
      CREATE INDEX audit_log_operator ON audit_log(operator_id);

      -- Append-only at the SQL level too: the application never updates or deletes audit rows.
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    `);
  },
};

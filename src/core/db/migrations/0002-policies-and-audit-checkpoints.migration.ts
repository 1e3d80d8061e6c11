import type { Migration } from '../migration';

// Versioned policies (each change a new row, the newest in force) and signed checkpoints of the
// audit chain. All three tables are append-only like audit_log: history is evidence.
const appendOnly = (table: string) => `
  CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
    BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
  CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
    BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
`;

export const migration0002: Migration = {
  version: 2,
  name: 'policies-and-audit-checkpoints',
  up(db) {
    db.exec(`
      CREATE TABLE policy_versions (
        version INTEGER PRIMARY KEY CHECK (version > 0),
        policies TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        changed_by_id INTEGER NOT NULL REFERENCES operators(id),
        changed_by TEXT NOT NULL,
        approved_by_id INTEGER REFERENCES operators(id),
        approved_by TEXT
      ) STRICT;
      ${appendOnly('policy_versions')}

      CREATE TABLE audit_checkpoints (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signed_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_checkpoints_seq ON audit_checkpoints(seq);
      ${appendOnly('audit_checkpoints')}

      -- Public keys that signed checkpoints, so old checkpoints stay checkable after the key rotates.
      CREATE TABLE audit_signing_keys (
        key_id TEXT PRIMARY KEY,
        public_key_pem TEXT NOT NULL,
        added_at TEXT NOT NULL
      ) STRICT;
      ${appendOnly('audit_signing_keys')}

      CREATE INDEX audit_log_at ON audit_log(at);
    `);
  },
};

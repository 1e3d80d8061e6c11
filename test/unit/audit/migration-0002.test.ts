import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migration0001 } from '../../../src/core/db/migrations/0001-operators-and-audit.migration';
import { migration0002 } from '../../../src/core/db/migrations/0002-policies-and-audit-checkpoints.migration';

describe('migration 0002: policies and audit checkpoints', () => {
  const db = new BetterSqlite3(':memory:');
  migrate(db, [migration0001, migration0002]);

  it('creates STRICT tables', () => {
    for (const table of ['policy_versions', 'audit_checkpoints', 'audit_signing_keys']) {
      const sql = (db.prepare('SELECT sql FROM sqlite_master WHERE name = ?').get(table) as { sql: string }).sql;
      expect(sql).toMatch(/\) STRICT$/);
    }
    expect(() =>
      db
        .prepare(
          "INSERT INTO audit_checkpoints (seq, hash, signature, key_id, signed_at) VALUES ('x', 'h', 's', 'k', 't')",
        )
        .run(),
    ).toThrow(/cannot store TEXT value in INTEGER column/);
  });

  it('makes every new table append-only', () => {
    db.prepare("INSERT INTO audit_signing_keys VALUES ('k1', 'pem', 'now')").run();
    db.prepare(
      "INSERT INTO audit_checkpoints (seq, hash, signature, key_id, signed_at) VALUES (1, 'h', 's', 'k1', 'now')",
    ).run();
    db.prepare(
      "INSERT INTO operators (id, username, display_name, role, password_hash, created_at, updated_at) VALUES (1, 'a', 'A', 'clerk', 'h', 'now', 'now')",
    ).run();
    db.prepare(
      "INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by) VALUES (1, '{}', 'now', 1, 'a')",
    ).run();
    for (const sql of [
      "UPDATE audit_signing_keys SET public_key_pem = 'other'",
      'DELETE FROM audit_signing_keys',
      'UPDATE audit_checkpoints SET seq = 2',
      'DELETE FROM audit_checkpoints',
      'DELETE FROM policy_versions',
      "UPDATE policy_versions SET policies = '[]'",
    ]) {
      expect(() => db.prepare(sql).run(), sql).toThrow(/append-only/);
    }
  });
});

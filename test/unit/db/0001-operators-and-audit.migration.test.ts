import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migration0001 } from '../../../src/core/db/migrations/0001-operators-and-audit.migration';

describe('migration 0001: operators and audit', () => {
  const db = new BetterSqlite3(':memory:');
  migrate(db, [migration0001]);
  const insertOp = db.prepare(
    `INSERT INTO operators (username, display_name, role, password_hash, created_at, updated_at) VALUES (?, 'X', ?, 'h', 'now', 'now')`,
  );

  it('accepts the five roles and refuses any other', () => {
    for (const role of ['clerk', 'manager', 'support', 'security_officer', 'auditor']) insertOp.run(`u-${role}`, role);
    expect(() => insertOp.run('u-root', 'root')).toThrow(/CHECK constraint/);
  });

  it('treats user names case-insensitively as unique', () => {
    expect(() => insertOp.run('U-CLERK', 'clerk')).toThrow(/UNIQUE/);
  });

  it('tables are STRICT: a wrong type is refused, not coerced', () => {
    expect(() => db.prepare("UPDATE operators SET failed_attempts = 'many' WHERE id = 1").run()).toThrow(
      /cannot store TEXT/,
    );
  });

  it('keeps audit rows append-only', () => {
    db.prepare(
      `INSERT INTO audit_log (seq, at, action, outcome, prev_hash, hash) VALUES (1, 'now', 'x', 'ok', '0', '1')`,
    ).run();
    expect(() => db.prepare("UPDATE audit_log SET action = 'y'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
  });
});

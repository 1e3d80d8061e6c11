import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';

describe('migration 0005: password provenance', () => {
  it('counts a settled password as its owner’s and leaves a temporary one’s setter unknown', () => {
    const db = new BetterSqlite3(':memory:');
    migrate(
      db,
      migrations.filter((m) => m.version < 5),
    );
    const insert = db.prepare(
      `INSERT INTO operators (username, display_name, role, password_hash, must_change_password, created_at, updated_at)
       VALUES (?, 'X', 'security_officer', 'h', ?, 'then', ?)`,
    );
    insert.run('settled', 0, '2026-01-02T03:04:05.000Z');
    insert.run('temporary', 1, '2026-01-03T03:04:05.000Z');
    migrate(db, migrations);
    const rows = db.prepare('SELECT id, username, password_set_by, password_set_at FROM operators ORDER BY id').all();
    expect(rows).toEqual([
      { id: 1, username: 'settled', password_set_by: 1, password_set_at: '2026-01-02T03:04:05.000Z' },
      { id: 2, username: 'temporary', password_set_by: null, password_set_at: '2026-01-03T03:04:05.000Z' },
    ]);
  });

  it('refers to an operator: a setter that does not exist is refused', () => {
    const db = new BetterSqlite3(':memory:');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations);
    expect(() =>
      db
        .prepare(
          `INSERT INTO operators (username, display_name, role, password_hash, password_set_by, created_at, updated_at)
           VALUES ('x', 'X', 'clerk', 'h', 99, 'now', 'now')`,
        )
        .run(),
    ).toThrow(/FOREIGN KEY/);
  });
});

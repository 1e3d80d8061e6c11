import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';

describe('migration 0023: the operators’ session epoch', () => {
  it('starts every existing operator at epoch 0 and refuses a negative one', () => {
    const db = new BetterSqlite3(':memory:');
    migrate(
      db,
      migrations.filter((m) => m.version < 23),
    );
    db.prepare(
      `INSERT INTO operators (username, display_name, role, password_hash, created_at, updated_at)
       VALUES ('before', 'Before', 'clerk', 'h', 'then', 'then')`,
    ).run();
    migrate(db, migrations);
    expect(db.prepare('SELECT username, session_epoch FROM operators').all()).toEqual([
      { username: 'before', session_epoch: 0 },
    ]);
    expect(() => db.prepare("UPDATE operators SET session_epoch = -1 WHERE username = 'before'").run()).toThrow(
      /CHECK constraint/,
    );
    expect(() => db.prepare("UPDATE operators SET session_epoch = NULL WHERE username = 'before'").run()).toThrow(
      /NOT NULL/,
    );
  });
});

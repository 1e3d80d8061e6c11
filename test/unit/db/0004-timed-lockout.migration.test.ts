import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migration0001 } from '../../../src/core/db/migrations/0001-operators-and-audit.migration';
import { migration0002 } from '../../../src/core/db/migrations/0002-policies-and-audit-checkpoints.migration';
import { migration0003 } from '../../../src/core/db/migrations/0003-keystore.migration';
import { migration0004 } from '../../../src/core/db/migrations/0004-timed-lockout.migration';

describe('migration 0004: timed lockout', () => {
  const db = new BetterSqlite3(':memory:');
  migrate(db, [migration0001, migration0002, migration0003]);
  const insertOp = db.prepare(
    `INSERT INTO operators (username, display_name, role, password_hash, failed_attempts, locked_at, created_at, updated_at)
     VALUES (?, 'X', 'clerk', 'h', ?, ?, 'now', 'now')`,
  );
  insertOp.run('locked-before', 5, '2026-11-30T08:00:00.000Z');
  insertOp.run('free', 2, null);
  migrate(db, [migration0001, migration0002, migration0003, migration0004]);
  const row = (username: string) =>
    db.prepare('SELECT failed_attempts, locked_until, lockout_count FROM operators WHERE username = ?').get(username);

  it('an account locked before stays locked for 15 minutes from its lock time, as one lockout', () => {
    expect(row('locked-before')).toEqual({
      failed_attempts: 5,
      locked_until: Date.parse('2026-11-30T08:15:00.000Z'),
      lockout_count: 1,
    });
  });

  it('leaves other accounts unlocked with no lockouts counted', () => {
    expect(row('free')).toEqual({ failed_attempts: 2, locked_until: null, lockout_count: 0 });
  });

  it('refuses a negative lockout count and a non-integer lock end (STRICT)', () => {
    expect(() => db.prepare("UPDATE operators SET lockout_count = -1 WHERE username = 'free'").run()).toThrow(/CHECK/);
    expect(() => db.prepare("UPDATE operators SET locked_until = 'soon' WHERE username = 'free'").run()).toThrow(
      /cannot store TEXT/,
    );
  });
});

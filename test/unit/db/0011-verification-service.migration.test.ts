import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { SqliteFailureCounterRepository } from '../../../src/core/verification/failure.repository';

// Migration 0011: the verification service's clients and the failure lockout's counter. The counter
// moves by one UPSERT: it locks at the limit, keeps the first lock time, an acceptance resets only an
// unlocked count, and the desk's clear lifts the lock.

describe('migration 0011: verification clients and failure counters', () => {
  const db = new BetterSqlite3(':memory:');
  migrate(db, migrations);
  db.prepare(
    `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
       created_at, created_by, updated_at) VALUES (1, 'C1', 'A', 'a', 'l1', '1', 'c', 'x', 'b', 't', 'u', 't')`,
  ).run();
  db.prepare(
    `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
     VALUES (1, 'AA01', 1, 'N-1', 'active', 't', 'u', 't')`,
  ).run();
  const failures = new SqliteFailureCounterRepository(db);

  it('counts failures in a row, locks at the limit and keeps the first lock time', async () => {
    expect(await failures.get(1)).toBeNull();
    expect(await failures.recordFailure(1, 3, 't1')).toMatchObject({ consecutive: 1, lockedAt: null });
    await failures.recordSuccess(1);
    expect(await failures.get(1)).toMatchObject({ consecutive: 0, lastFailureAt: 't1' });
    await failures.recordFailure(1, 3, 't2');
    await failures.recordFailure(1, 3, 't3');
    expect(await failures.recordFailure(1, 3, 't4')).toMatchObject({ consecutive: 3, lockedAt: 't4' });
    expect(await failures.recordFailure(1, 3, 't5')).toMatchObject({ consecutive: 4, lockedAt: 't4' });
    await failures.recordSuccess(1); // a lock is the desk's to lift
    expect(await failures.get(1)).toMatchObject({ consecutive: 4, lockedAt: 't4' });
    expect(await failures.clear(1)).toMatchObject({ consecutive: 0, lockedAt: null });
    expect(await failures.clear(1)).toBeNull();
  });

  it('refuses a client row without a proper key id and hash, and a failure row for no card', () => {
    const insert = (keyId: string, hash: string) =>
      db
        .prepare(
          `INSERT INTO verify_clients (key_id, key_hash, name, scopes, created_at, created_by) VALUES (?, ?, 'b', 'verify', 't', 'u')`,
        )
        .run(keyId, hash);
    expect(() => insert('short', 'a'.repeat(64))).toThrow(/CHECK/);
    expect(() => insert('0123456789abcdef', 'plain-key')).toThrow(/CHECK/);
    insert('0123456789abcdef', 'a'.repeat(64));
    expect(() => insert('0123456789abcdef', 'b'.repeat(64))).toThrow(/UNIQUE/);
    db.pragma('foreign_keys = ON');
    expect(() => db.prepare(`INSERT INTO verification_failures (card_ref, consecutive) VALUES (99, 1)`).run()).toThrow(
      /FOREIGN KEY/,
    );
  });
});

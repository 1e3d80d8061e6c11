import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';

// Migration 0018 on a desk that already has cards and lists: it adds card_reissues and three rules
// (triggers) and changes no row. The rules: a disabled list stays disabled, a terminated card stays
// terminated, a card replaced by a reissue stays blocked or terminated. Lists and cards not under
// those rules move as before.

describe('migration 0018: card reissues', () => {
  it('keeps every row, then holds the three rules while everything else moves as before', () => {
    const db = new BetterSqlite3(':memory:');
    migrate(
      db,
      migrations.filter((m) => m.version < 18),
    );
    db.prepare(
      `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
         created_at, created_by, updated_at) VALUES (1, 'C1', 'A', 'a', 'l1', '1', 'c', 'x', 'b', 't', 'u', 't')`,
    ).run();
    const card = db.prepare(
      `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
       VALUES (?, ?, 1, ?, ?, 't', 'u', 't')`,
    );
    card.run(1, 'AA01', 'N-1', 'blocked');
    card.run(2, 'AA02', 'N-2', 'blocked');
    card.run(3, 'AA03', 'N-3', 'terminated');
    const list = db.prepare(
      `INSERT INTO code_lists (id, card_ref, seq, list_id, length, digits, threshold, expires_at, state,
         queued_by_trigger, mk_version, sealed_for, body_hash, created_at, created_by, state_changed_at)
       VALUES (?, ?, 1, ?, 100, 6, 10, 't', ?, 'first', 1, 'card-key:1', ?, 't', 'u', 't')`,
    );
    list.run(1, 1, 'a'.repeat(32), 'disabled', 'b'.repeat(64));
    list.run(2, 2, 'c'.repeat(32), 'active', 'd'.repeat(64));
    const before = [db.prepare('SELECT * FROM cards').all(), db.prepare('SELECT * FROM code_lists').all()];
    migrate(db, migrations);
    expect([db.prepare('SELECT * FROM cards').all(), db.prepare('SELECT * FROM code_lists').all()]).toEqual(before);

    const setList = (id: number, state: string) =>
      db.prepare('UPDATE code_lists SET state = ? WHERE id = ?').run(state, id);
    const setCard = (id: number, state: string) => db.prepare('UPDATE cards SET state = ? WHERE id = ?').run(state, id);
    expect(() => setList(1, 'active')).toThrow(/stays disabled/);
    expect(() => setList(2, 'disabled')).not.toThrow();
    expect(() => setCard(3, 'active')).toThrow(/stays terminated/);
    // Card 2 is blocked but not replaced: it may be unblocked. Card 1, once replaced, may not.
    expect(() => setCard(2, 'active')).not.toThrow();
    db.prepare(
      `INSERT INTO card_reissues (case_id, customer_ref, old_card_ref, new_card_id, carried_codes, state, started_at,
         started_by, state_changed_at) VALUES (7, 1, 1, 'BB01', 90, 'enrolling', 't', 'u', 't')`,
    ).run();
    expect(() => setCard(1, 'active')).toThrow(/replaced by a reissue/);
    expect(() => setCard(1, 'terminated')).not.toThrow();
    // One reissue per case and per old card.
    expect(() =>
      db
        .prepare(
          `INSERT INTO card_reissues (case_id, customer_ref, old_card_ref, new_card_id, carried_codes, state, started_at,
             started_by, state_changed_at) VALUES (7, 1, 2, 'BB02', 0, 'enrolling', 't', 'u', 't')`,
        )
        .run(),
    ).toThrow(/UNIQUE/);
    expect(db.prepare('SELECT state FROM cards ORDER BY id').all()).toEqual([
      { state: 'terminated' },
      { state: 'active' },
      { state: 'terminated' },
    ]);
    db.close();
  });
});

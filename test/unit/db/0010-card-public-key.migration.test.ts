import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';

// Migration 0010 on a desk that already has cards: it only adds the public-key columns, empty,
// so every existing card stays in card-key mode with nothing else changed.

describe('migration 0010: the card public key', () => {
  it('adds public_key and public_key_at to a database at 0009 and keeps every card as it was', () => {
    const db = new BetterSqlite3(':memory:');
    migrate(
      db,
      migrations.filter((m) => m.version < 10),
    );
    db.prepare(
      `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
         created_at, created_by, updated_at) VALUES (1, 'C1', 'A', 'a', 'l1', '1', 'c', 'x', 'b', 't', 'u', 't')`,
    ).run();
    db.prepare(
      `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
       VALUES (1, 'AA01', 1, 'N-1', 'active', 't', 'u', 't')`,
    ).run();
    const before = db.prepare('SELECT * FROM cards').all();
    migrate(db, migrations);
    const after = db.prepare('SELECT * FROM cards').all() as Record<string, unknown>[];
    expect(after).toEqual(
      (before as Record<string, unknown>[]).map((r) => ({ ...r, public_key: null, public_key_at: null })),
    );
    expect(after[0]).toMatchObject({ seal_mode: 'card-key' });
    // The column takes text of a plausible length only; the repository checks it is hex.
    expect(() => db.prepare("UPDATE cards SET public_key = 'xyz' WHERE id = 1").run()).toThrow(/CHECK/);
    expect(() => db.prepare('UPDATE cards SET public_key = ? WHERE id = 1').run('ab'.repeat(294))).not.toThrow();
    db.close();
  });
});

import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteCardRepository } from '../../../src/core/cards/card.repository';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { SqliteSupportCaseRepository } from '../../../src/core/support/support-case.repository';

// Migration 0020: a reported card stays blocked while its case is open, whoever writes — the desk's
// reconcile of chip and record, a PIN unblock, a stray UPDATE. Other cards move as before.

describe('migration 0020: an open support case holds its card blocked', () => {
  const db = new BetterSqlite3(':memory:');
  migrate(db, migrations);
  db.pragma('foreign_keys = ON');
  db.prepare(
    `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
       created_at, created_by, updated_at) VALUES (1, 'C1', 'A', 'a', 'l1', '1', 'c', 'x', 'b', 't', 'u', 't')`,
  ).run();
  const card = (id: number, state: string) =>
    db
      .prepare(
        `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
         VALUES (?, ?, 1, ?, ?, 't', 'u', 't')`,
      )
      .run(id, `AA0${id}`, `N-${id}`, state);
  const cards = new SqliteCardRepository(db);
  const cases = new SqliteSupportCaseRepository(db);
  const by = { operator: 'sam', at: '2026-01-01T10:00:00.000Z' };

  it('refuses to move a reported card out of blocked, and finds its open case', async () => {
    card(1, 'active');
    const r = await cases.report({ cardRef: 1, customerRef: 1, reason: 'stolen', suspicionRef: null, note: null }, by);
    expect(r.kind).toBe('opened');
    await expect(cards.transition(1, ['blocked'], 'active', by.at)).rejects.toThrow(/stays blocked/);
    await expect(cards.transition(1, ['blocked'], 'awaiting_activation', by.at)).rejects.toThrow(/stays blocked/);
    expect((await cards.byId(1))?.state).toBe('blocked');
    expect((await cases.openForCard(1))?.reason).toBe('stolen');
    // Terminating it stays possible (the old card presented after a reissue).
    expect((await cards.transition(1, ['blocked'], 'terminated', by.at))?.state).toBe('terminated');
  });

  it('leaves a card without an open case alone', async () => {
    card(2, 'blocked');
    expect(await cases.openForCard(2)).toBeNull();
    expect((await cards.transition(2, ['blocked'], 'active', by.at))?.state).toBe('active');
  });
});

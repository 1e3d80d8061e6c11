import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { SqliteSupportCaseRepository } from '../../../src/core/support/support-case.repository';

// Migration 0017: support cases. The report blocks the card, withdraws its lists and opens the case in
// one transaction; one open case per card; the failure count never passes the limit; each step is a
// compare-and-set on the state; the passkey column holds only a 16-byte tag.

describe('migration 0017: support cases', () => {
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
  const list = (cardRef: number, seq: number, state: string) =>
    db
      .prepare(
        `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state, queued_by_trigger,
           mk_version, sealed_for, body_hash, created_at, created_by, state_changed_at)
         VALUES (?, ?, ?, 10, 6, 2, 'z', ?, 'first', 1, 'card:N', ?, 't', 'u', 't')`,
      )
      .run(cardRef, seq, `${cardRef}${seq}`.padStart(32, '0'), state, 'a'.repeat(64));
  const repo = new SqliteSupportCaseRepository(db);
  const by = { operator: 'sam', at: '2026-01-01T10:00:00.000Z' };
  const state = (table: string, id: number) =>
    (db.prepare(`SELECT state FROM ${table} WHERE id = ?`).get(id) as { state: string }).state;

  it('blocks the card, disables its active and on-the-way lists and opens the case, all at once; a second report gets the case', async () => {
    card(1, 'active');
    list(1, 1, 'superseded');
    list(1, 2, 'active');
    list(1, 3, 'staged');
    const r = await repo.report({ cardRef: 1, customerRef: 1, reason: 'lost', suspicionRef: null, note: null }, by);
    expect(r.kind).toBe('opened');
    if (r.kind !== 'opened') return;
    expect(r.withdrawn.map((l) => [l.seq, l.was])).toEqual([
      [2, 'active'],
      [3, 'staged'],
    ]);
    expect(state('cards', 1)).toBe('blocked');
    expect(db.prepare('SELECT seq, state FROM code_lists WHERE card_ref = 1 ORDER BY seq').all()).toEqual([
      { seq: 1, state: 'superseded' },
      { seq: 2, state: 'disabled' },
      { seq: 3, state: 'disabled' },
    ]);
    const again = await repo.report(
      { cardRef: 1, customerRef: 1, reason: 'stolen', suspicionRef: null, note: null },
      by,
    );
    expect(again).toMatchObject({ kind: 'existing', supportCase: { id: r.supportCase.id, reason: 'lost' } });
  });

  it('opens nothing and changes nothing for a card that is not active or awaiting activation', async () => {
    card(2, 'terminated');
    list(2, 1, 'active');
    const r = await repo.report({ cardRef: 2, customerRef: 1, reason: 'lost', suspicionRef: null, note: null }, by);
    expect(r).toEqual({ kind: 'card_not_blockable', cardState: 'terminated' });
    expect(
      state('code_lists', (db.prepare('SELECT id FROM code_lists WHERE card_ref = 2').get() as { id: number }).id),
    ).toBe('active');
    expect(db.prepare('SELECT count(*) AS n FROM support_cases WHERE card_ref = 2').get()).toEqual({ n: 0 });
  });

  it('counts wrong passkeys by compare-and-set: never past the limit, then locked without the tag', async () => {
    card(3, 'awaiting_activation');
    const r = await repo.report({ cardRef: 3, customerRef: 1, reason: 'damaged', suspicionRef: null, note: null }, by);
    if (r.kind !== 'opened') throw new Error('not opened');
    const id = r.supportCase.id;
    const tag = 'ab'.repeat(16);
    await repo.recordPasskey(id, {
      serial: 1,
      tag,
      channel: 'email',
      sentAt: by.at,
      expiresAt: '2026-01-01T10:15:00.000Z',
    });
    const results = await Promise.all(Array.from({ length: 50 }, () => repo.recordFailure(id, 3, by.at)));
    expect(results.filter(Boolean)).toHaveLength(3);
    expect(await repo.byId(id)).toMatchObject({ state: 'locked', failures: 3, passkeyTag: null });
    // the right passkey (its tag) after the lock: refused
    expect(
      await repo.markVerified(id, { serial: 1, tag, limit: 3, via: 'desk', by: 'sam', at: '2026-01-01T10:01:00.000Z' }),
    ).toBeNull();
    // a new passkey while locked: refused
    expect(await repo.recordPasskey(id, { serial: 2, tag, channel: 'sms', sentAt: by.at, expiresAt: 'z' })).toBeNull();
    const unlocked = await repo.recordIdentityProcedure(
      id,
      { documentType: 'passport', documentRef: 'X1', checkedBy: 'mia', approvedBy: 'max', maxSends: 5 },
      by.at,
    );
    expect(unlocked).toMatchObject({ state: 'reported', failures: 0, passkeyTag: null, identityApprovedBy: 'max' });
    expect(
      await repo.recordIdentityProcedure(
        id,
        { documentType: 'passport', documentRef: 'X1', checkedBy: 'mia', approvedBy: 'max', maxSends: 5 },
        by.at,
      ),
    ).toBeNull();
  });

  it('verifies only the serial and tag awaiting, unexpired; reissues once from verified', async () => {
    card(4, 'active');
    const r = await repo.report({ cardRef: 4, customerRef: 1, reason: 'stolen', suspicionRef: null, note: null }, by);
    if (r.kind !== 'opened') throw new Error('not opened');
    const id = r.supportCase.id;
    const tag = 'cd'.repeat(16);
    const exp = '2026-01-01T10:15:00.000Z';
    expect(await repo.markReissued(id, 4, by.at)).toBeNull();
    await repo.recordPasskey(id, { serial: 1, tag, channel: 'email', sentAt: by.at, expiresAt: exp });
    const v = (serial: number, t: string, at: string) =>
      repo.markVerified(id, { serial, tag: t, limit: 3, via: 'desk', by: 'sam', at });
    expect(await v(1, tag, exp)).toBeNull(); // expired at that instant
    expect(await v(2, tag, by.at)).toBeNull();
    expect(await v(1, 'ef'.repeat(16), by.at)).toBeNull();
    expect(await v(1, tag, by.at)).toMatchObject({ state: 'verified', passkeyTag: null });
    expect(await v(1, tag, by.at)).toBeNull(); // used
    expect(await repo.markReissued(id, 4, by.at)).toMatchObject({ state: 'reissued', newCardRef: 4 });
    expect(await repo.markReissued(id, 4, by.at)).toBeNull();
    // the card may have a new case once the old one is reissued
    db.prepare(`UPDATE cards SET state = 'active' WHERE id = 4`).run();
    expect(
      (await repo.report({ cardRef: 4, customerRef: 1, reason: 'lost', suspicionRef: null, note: null }, by)).kind,
    ).toBe('opened');
  });

  it('refuses a passkey column that is not a 16-byte tag, and a second open case per card', () => {
    expect(() => db.prepare(`UPDATE support_cases SET passkey_tag = '7K3MQ9XD' WHERE id = 1`).run()).toThrow(/CHECK/);
    expect(() =>
      db
        .prepare(
          `INSERT INTO support_cases (card_ref, customer_ref, reason, state, card_state_before, opened_at, opened_by, state_changed_at)
           VALUES (1, 1, 'lost', 'reported', 'active', 't', 'u', 't')`,
        )
        .run(),
    ).toThrow(/UNIQUE/);
  });
});

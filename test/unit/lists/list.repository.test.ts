import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteCardRepository } from '../../../src/core/cards/card.repository';
import { SqliteCustomerRepository } from '../../../src/core/customers/customer.repository';
import { openDatabase, type Database } from '../../../src/core/db/database';
import { SqliteListRepository, type NewList } from '../../../src/core/lists/list.repository';
import { SqliteFailureCounterRepository } from '../../../src/core/verification/failure.repository';

// Migration 0008 and the list repository: the table refuses what must never be stored, and each
// changing method is a compare-and-set.

const at = '2026-12-02T10:00:00.000Z';
const by = { operator: 'mia', at };

describe('list repository (migration 0008)', () => {
  let dir: string;
  let db: Database;
  let lists: SqliteListRepository;
  let cardRef: number;
  const list = (over: Partial<NewList> = {}): NewList => ({
    cardRef,
    listId: '0'.repeat(32),
    length: 10,
    digits: 6,
    threshold: 2,
    expiresAt: '2027-12-02T10:00:00.000Z',
    trigger: 'first',
    ...over,
  });
  const sealing = { mkVersion: 1, sealedFor: 'card:N-1', bodyHash: 'cd'.repeat(32) };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otac-lists-'));
    db = openDatabase(join(dir, 'workstation.db'));
    lists = new SqliteListRepository(db);
    const customer = await new SqliteCustomerRepository(db).insert(
      {
        customerRef: 'C-1',
        fullName: 'Ada',
        birthDate: null,
        address: { line1: 'x', line2: null, postalCode: '1', city: 'y', country: 'GB' },
        email: null,
        mobile: null,
        branch: 'b',
      },
      by,
    );
    cardRef = (
      await new SqliteCardRepository(db).insert(
        { cardId: '0102030405060708', customerId: customer.id, n: 'N-1', sealMode: 'card-key' },
        by,
      )
    ).id;
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function activeList(listId: string) {
    const { list: l } = await lists.queue(list({ listId }), by);
    await lists.recordSealing(l.id, sealing, at);
    await lists.transition(l.id, ['prepared'], 'staged', at);
    await lists.transition(l.id, ['staged'], 'committed', at);
    await lists.transition(l.id, ['committed'], 'receipt_verified', at);
    const active = await lists.activate(l.id, at);
    if (!active) throw new Error('not activated');
    return active;
  }

  it('numbers lists per card and keeps one on its way', async () => {
    const a = await lists.queue(list({ listId: '1'.repeat(32) }), by);
    expect(a).toMatchObject({ created: true, list: { seq: 1, state: 'prepared', nextIndex: 1, usedCount: 0 } });
    const b = await lists.queue(list({ listId: '2'.repeat(32) }), by);
    expect(b).toEqual({ created: false, list: a.list });
    // The index is the guard for any other writer: a second list on its way is refused by the table.
    expect(() =>
      db
        .prepare(
          `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state, queued_by_trigger, created_at, created_by, state_changed_at)
           VALUES (?, 2, ?, 10, 6, 2, ?, 'prepared', 'manual', ?, 'x', ?)`,
        )
        .run(cardRef, '3'.repeat(32), at, at, at),
    ).toThrow(/UNIQUE/);
  });

  it('refuses what must not be stored: a sealed state without its sealing, digits outside 6..10', () => {
    const insert = (state: string, digits: number) =>
      db
        .prepare(
          `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state, queued_by_trigger, created_at, created_by, state_changed_at)
           VALUES (?, 9, ?, 10, ?, 2, ?, ?, 'manual', ?, 'x', ?)`,
        )
        .run(cardRef, '4'.repeat(32), digits, at, state, at, at);
    expect(() => insert('active', 6)).toThrow(/CHECK/);
    expect(() => insert('prepared', 5)).toThrow(/CHECK/);
    expect(() => insert('prepared', 11)).toThrow(/CHECK/);
  });

  it('seals once: a second sealing for another key is refused, the same one is accepted again', async () => {
    const { list: l } = await lists.queue(list({ listId: '5'.repeat(32) }), by);
    expect(await lists.recordSealing(l.id, sealing, at)).toMatchObject({ sealedFor: 'card:N-1', mkVersion: 1 });
    expect(await lists.recordSealing(l.id, sealing, at)).not.toBeNull();
    expect(await lists.recordSealing(l.id, { ...sealing, sealedFor: 'rsa:00' }, at)).toBeNull();
    expect(await lists.recordSealing(l.id, { ...sealing, bodyHash: 'ef'.repeat(32) }, at)).toBeNull();
  });

  it('activates only after the receipt, superseding the old list in the same step', async () => {
    const first = await activeList('6'.repeat(32));
    const { list: next } = await lists.queue(list({ listId: '7'.repeat(32) }), by);
    expect(await lists.activate(next.id, at)).toBeNull(); // not receipt_verified
    expect(await lists.transition(next.id, ['prepared'], 'active', at)).toBeNull(); // only through activate
    await lists.recordSealing(next.id, sealing, at);
    await lists.transition(next.id, ['prepared'], 'committed', at);
    expect((await lists.active(cardRef))?.id).toBe(first.id); // the old one still serves
    await lists.transition(next.id, ['committed'], 'receipt_verified', at);
    expect(await lists.activate(next.id, at)).toMatchObject({ state: 'active', seq: 2, activatedAt: at });
    expect(await lists.byId(first.id)).toMatchObject({ state: 'superseded' });
    expect(await lists.activate(next.id, at)).toBeNull();
  });

  it('marks a use once, forward only, inside the window, never past the end', async () => {
    const l = await activeList('8'.repeat(32));
    expect(await lists.markUse(l.id, 3, 5, at)).toMatchObject({ index: 3, list: { nextIndex: 4, usedCount: 1 } });
    expect(await lists.markUse(l.id, 3, 5, at)).toBeNull();
    expect(await lists.markUse(l.id, 2, 5, at)).toBeNull();
    expect(await lists.markUse(l.id, 9, 5, at)).toBeNull(); // 4 + 5 = 9 is outside the window
    expect(await lists.markUse(l.id, 8, 5, at)).toMatchObject({ list: { nextIndex: 9, refillDue: true } });
    expect(await lists.markUse(l.id, 11, 5, at)).toBeNull(); // past the list's end
    expect(await lists.isUsed(l.id, 3)).toBe(true);
    expect(await lists.isUsed(l.id, 4)).toBe(false);
    await lists.transition(l.id, ['active'], 'disabled', at);
    expect(await lists.markUse(l.id, 9, 5, at)).toBeNull();
    expect(await lists.current(cardRef)).toMatchObject({ id: l.id, state: 'disabled' });
  });

  it('refuses a use mark on a card locked out by its failure count, whoever reads it unlocked', async () => {
    const l = await activeList('9'.repeat(32));
    expect(await lists.markUse(l.id, 1, 5, at)).toMatchObject({ index: 1 });
    const failures = new SqliteFailureCounterRepository(db);
    await failures.recordFailure(cardRef, 1, at);
    expect(await lists.markUse(l.id, 2, 5, at)).toBeNull();
    expect(await lists.isUsed(l.id, 2)).toBe(false);
    expect(await lists.byId(l.id)).toMatchObject({ nextIndex: 2, usedCount: 1 });
    await failures.clear(cardRef);
    expect(await lists.markUse(l.id, 2, 5, at)).toMatchObject({ index: 2 });
  });
});

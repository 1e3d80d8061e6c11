import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CardTakenError, SqliteCardRepository } from '../../../src/core/cards/card.repository';
import { nameKey, SqliteCustomerRepository, type NewCustomer } from '../../../src/core/customers/customer.repository';
import { openDatabase, type Database } from '../../../src/core/db/database';

const ADA: NewCustomer = {
  customerRef: 'C-1001',
  fullName: 'Ada Lovelace',
  birthDate: '1815-12-10',
  address: { line1: '12 St James’s Square', line2: null, postalCode: 'SW1Y 4JH', city: 'London', country: 'GB' },
  email: 'ada@example.org',
  mobile: '+447700900001',
  branch: 'London Central',
};
const by = { operator: 'clara', at: '2026-12-02T10:00:00.000Z' };

describe('customer and card repositories (migration 0006)', () => {
  let dir: string;
  let db: Database;
  let customers: SqliteCustomerRepository;
  let cards: SqliteCardRepository;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'otac-cards-'));
    db = openDatabase(join(dir, 'workstation.db'));
    customers = new SqliteCustomerRepository(db);
    cards = new SqliteCardRepository(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a customer and reads it back, with a folded name for search', async () => {
    const c = await customers.insert({ ...ADA, fullName: 'Ádá  LOVELACE' }, by);
    expect(await customers.get(c.id)).toEqual(c);
    expect(c).toMatchObject({ version: 1, createdBy: 'clara', address: ADA.address });
    expect(nameKey('Ádá  LOVELACE')).toBe('ada lovelace');
    expect(db.prepare('SELECT name_key FROM customers WHERE id = ?').get(c.id)).toEqual({ name_key: 'ada lovelace' });
  });

  it('refuses a customer with neither reference nor birth date', async () => {
    await expect(customers.insert({ ...ADA, customerRef: null, birthDate: null }, by)).rejects.toThrow(/CHECK/);
    expect(db.prepare('SELECT COUNT(*) AS n FROM customers').get()).toEqual({ n: 0 });
  });

  it('binds a card once: a second card id or N is refused', async () => {
    const c = await customers.insert(ADA, by);
    const card = await cards.insert(
      { cardId: '0A0B0C0D', customerId: c.id, n: '1234567890A', sealMode: 'card-key' },
      by,
    );
    expect(card).toMatchObject({ state: 'enrolling', activatedAt: null, version: 1 });
    expect(await cards.byN('1234567890A')).toEqual(card);
    expect(await cards.byCardId('0A0B0C0D')).toEqual(card);
    await expect(
      cards.insert({ cardId: '0A0B0C0D', customerId: c.id, n: '999', sealMode: 'card-key' }, by),
    ).rejects.toEqual(new CardTakenError('card_id'));
    await expect(
      cards.insert({ cardId: 'FFFF', customerId: c.id, n: '1234567890A', sealMode: 'card-key' }, by),
    ).rejects.toEqual(new CardTakenError('n'));
    expect(await cards.listByCustomer(c.id)).toEqual([card]);
  });

  it('moves a card only from the state it is in: of two concurrent moves one wins', async () => {
    const c = await customers.insert(ADA, by);
    const card = await cards.insert({ cardId: '01', customerId: c.id, n: 'N1', sealMode: 'card-key' }, by);
    const [a, b] = await Promise.all([
      cards.transition(card.id, ['enrolling'], 'awaiting_activation', '2026-12-02T10:01:00.000Z'),
      cards.transition(card.id, ['enrolling'], 'blocked', '2026-12-02T10:01:00.000Z'),
    ]);
    expect([a?.state, b?.state].filter(Boolean)).toHaveLength(1);
    const won = (a ?? b)!;
    expect(won.version).toBe(2);
    expect(await cards.transition(card.id, ['enrolling'], 'active', 'x')).toBeNull();
    if (won.state === 'awaiting_activation') {
      const active = await cards.transition(card.id, ['awaiting_activation'], 'active', '2026-12-02T11:00:00.000Z');
      expect(active).toMatchObject({ state: 'active', activatedAt: '2026-12-02T11:00:00.000Z', version: 3 });
    }
  });
});

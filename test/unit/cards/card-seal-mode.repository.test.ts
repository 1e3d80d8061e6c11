import { generateKeyPairSync } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteCardRepository, type CardRecord } from '../../../src/core/cards/card.repository';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { migration0010 } from '../../../src/core/db/migrations/0010-card-public-key.migration';
import { publicKeyBytes, recordablePublicKey } from '../../../src/core/push/seal-target';
import { rsaPublicKeyBytes } from '../../support/list-envelopes';

// Migration 0010 and CardRepository.setSealMode: the card's RSA public key kept on record with
// public-key mode, cleared with card-key mode, set only on an active card whose row nobody changed
// in between (compare-and-set), so of two desks switching at once exactly one wins.

const AT = '2026-12-03T02:30:00.000Z';
const cardKey = () => generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 }).publicKey;

describe('migration 0010 and the seal mode of a card', () => {
  let db: BetterSqlite3.Database;
  let cards: SqliteCardRepository;
  let card: CardRecord;

  beforeEach(async () => {
    db = new BetterSqlite3(':memory:');
    migrate(db, migrations);
    db.prepare(
      `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
         created_at, created_by, updated_at) VALUES (1, 'C1', 'A', 'a', 'l1', '1', 'c', 'x', 'b', 't', 'u', 't')`,
    ).run();
    db.prepare(
      `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
       VALUES (1, 'AA01', 1, 'N-1', 'active', 't', 'u', 't'), (2, 'AA02', 1, 'N-2', 'awaiting_activation', 't', 'u', 't')`,
    ).run();
    cards = new SqliteCardRepository(db);
    card = (await cards.byId(1))!;
  });
  afterEach(() => db.close());

  it('adds the key columns empty: an existing card stays in card-key mode with no key', async () => {
    expect(migration0010.version).toBe(10);
    expect(migrations.map((m) => m.version)).toContain(10);
    const columns = (db.prepare('PRAGMA table_info(cards)').all() as { name: string }[]).map((c) => c.name);
    expect(columns).toEqual(expect.arrayContaining(['public_key', 'public_key_at']));
    expect(card).toMatchObject({ sealMode: 'card-key', publicKey: null, publicKeyAt: null });
  });

  it('records the key with public-key mode and clears it with card-key mode, each step one version', async () => {
    const spki = recordablePublicKey(rsaPublicKeyBytes(cardKey()));
    const pk = await cards.setSealMode(card.id, card.version, { mode: 'public-key', publicKey: spki }, AT);
    expect(pk).toMatchObject({ sealMode: 'public-key', publicKey: spki, publicKeyAt: AT, version: card.version + 1 });
    expect(await cards.byId(card.id)).toEqual(pk);
    // What is kept is the key itself: the port gets the same modulus and exponent back.
    expect(recordablePublicKey(publicKeyBytes(spki))).toBe(spki);
    const back = await cards.setSealMode(card.id, pk!.version, { mode: 'card-key' }, 'later');
    expect(back).toMatchObject({ sealMode: 'card-key', publicKey: null, publicKeyAt: null, version: card.version + 2 });
  });

  it('of two desks switching the same card at once, one wins and the other changes nothing', async () => {
    const [a, b] = [cardKey(), cardKey()].map((k) => recordablePublicKey(rsaPublicKeyBytes(k)));
    const results = await Promise.all([
      cards.setSealMode(card.id, card.version, { mode: 'public-key', publicKey: a! }, AT),
      cards.setSealMode(card.id, card.version, { mode: 'public-key', publicKey: b! }, AT),
    ]);
    const won = results.filter((r) => r !== null);
    expect(won).toHaveLength(1);
    expect(await cards.byId(card.id)).toEqual(won[0]);
    // A stale version (the row moved since it was read) is refused with nothing changed.
    expect(await cards.setSealMode(card.id, card.version, { mode: 'card-key' }, AT)).toBeNull();
    expect(await cards.byId(card.id)).toEqual(won[0]);
  });

  it('sets a mode only on an active card, and keeps only well-formed key text', async () => {
    const other = (await cards.byId(2))!;
    const spki = recordablePublicKey(rsaPublicKeyBytes(cardKey()));
    expect(await cards.setSealMode(other.id, other.version, { mode: 'public-key', publicKey: spki }, AT)).toBeNull();
    expect(await cards.byId(other.id)).toEqual(other);
    await expect(
      cards.setSealMode(card.id, card.version, { mode: 'public-key', publicKey: 'not hex' }, AT),
    ).rejects.toThrow(/hex/);
    expect(() => db.prepare("UPDATE cards SET public_key = 'abc' WHERE id = 1").run()).toThrow(/CHECK/);
    expect(await cards.byId(card.id)).toEqual(card);
  });

  it('keeps only a key on profile: RSA-2048 with exponent 65537 (docs/card-profile.md 9.4)', () => {
    const good = rsaPublicKeyBytes(cardKey());
    expect(() => recordablePublicKey({ ...good, exponent: Buffer.from([3]) })).toThrow(/65537/);
    expect(() => recordablePublicKey({ ...good, modulus: good.modulus.subarray(1) })).toThrow(/RSA-2048/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(() => recordablePublicKey(rsaPublicKeyBytes(short))).toThrow(/RSA-2048/);
  });
});

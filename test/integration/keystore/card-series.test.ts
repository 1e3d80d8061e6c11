import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteCardSeriesStore } from '../../../src/core/keystore/card-series.repository';
import { createKeystoreFixture, type KeystoreFixture } from './keystore.fixture';

// Migration 0003 and its store: a card's series number only moves forward.
describe('card key series store (migration 0003)', () => {
  let fx: KeystoreFixture;
  beforeAll(() => {
    fx = createKeystoreFixture('software');
  });
  afterAll(() => fx.dispose());

  it('creates a STRICT table with the documented columns', () => {
    const sql = (fx.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'card_key_series'").get() as { sql: string })
      .sql;
    expect(sql).toMatch(/STRICT/);
    const cols = (fx.db.prepare('PRAGMA table_info(card_key_series)').all() as { name: string }[]).map((c) => c.name);
    expect(cols).toEqual(['n', 'mk_version', 'sn', 'pending_sn', 'pending_mk_version', 'retired_count', 'updated_at']);
  });

  it('stores, reads and moves a card forward, but never back to a retired SN', async () => {
    const store = new SqliteCardSeriesStore(fx.db);
    const base = { n: 'N-1', mkVersion: 1, sn: 1, pendingSn: null, pendingMkVersion: null, retiredCount: 0 };
    await store.put(base);
    await store.put({ ...base, sn: 3, retiredCount: 2 });
    expect(await store.get('N-1')).toEqual({ ...base, sn: 3, retiredCount: 2 });
    await expect(store.put(base)).rejects.toThrow(/retired/);
    expect((await store.get('N-1'))?.sn).toBe(3);
    expect(await store.get('N-2')).toBeUndefined();
  });

  it('rejects inconsistent pending rotations at the SQL level', async () => {
    const store = new SqliteCardSeriesStore(fx.db);
    await expect(
      store.put({ n: 'N-3', mkVersion: 1, sn: 2, pendingSn: 2, pendingMkVersion: 1, retiredCount: 0 }),
    ).rejects.toThrow(/CHECK/);
    await expect(
      store.put({ n: 'N-4', mkVersion: 1, sn: 1, pendingSn: 2, pendingMkVersion: null, retiredCount: 0 }),
    ).rejects.toThrow(/CHECK/);
  });
});

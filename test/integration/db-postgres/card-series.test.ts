import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/core/db/database';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { SqliteCardSeriesStore, type CardSeriesStore } from '../../../src/core/keystore/card-series.repository';
import { PgCardSeriesStore } from '../../../src/core/keystore/card-series.repository.pg';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Card key series on both engines (issue 12 item 1): the same answers and the same refusal to
// move a card back to a retired series number; on PostgreSQL also when the stale writer is another
// pool (another desk or verification instance) that raced a rotation's confirmation.

interface Engine {
  store: CardSeriesStore;
  /** The same table through another connection (another desk). */
  other: CardSeriesStore;
  pg?: { db: PgDatabase; other: PgDatabase };
  close(): Promise<void>;
}

let server: TestPostgres;

const engines: Record<string, () => Promise<Engine>> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otac-series-'));
    const file = join(dir, 'workstation.db');
    const db = openDatabase(file);
    const other = openDatabase(file);
    return {
      store: new SqliteCardSeriesStore(db),
      other: new SqliteCardSeriesStore(other),
      close: async () => {
        db.close();
        other.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  postgres: async () => {
    const url = server.url(await server.createDatabase());
    const db = new PgDatabase({ url });
    const other = new PgDatabase({ url });
    await migratePg(db);
    return {
      store: new PgCardSeriesStore(db),
      other: new PgCardSeriesStore(other),
      pg: { db, other },
      close: async () => {
        await db.close();
        await other.close();
      },
    };
  },
};

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(() => server?.stop());

const base = { mkVersion: 1, sn: 1, pendingSn: null, pendingMkVersion: null, retiredCount: 0 };

describe.each(Object.keys(engines))('card key series store on %s', (name) => {
  let e: Engine;
  beforeAll(async () => {
    e = await engines[name]!();
  });
  afterAll(async () => e?.close());

  it('stores, reads and moves a card forward, but never back to a retired SN', async () => {
    const s = { ...base, n: 'N-1' };
    await e.store.put(s);
    await e.store.put({ ...s, sn: 3, retiredCount: 2 });
    expect(await e.store.get('N-1')).toEqual({ ...s, sn: 3, retiredCount: 2 });
    await expect(e.store.put(s)).rejects.toThrow(/retired/);
    expect(await e.other.get('N-1')).toEqual({ ...s, sn: 3, retiredCount: 2 });
    expect(await e.store.get('N-2')).toBeUndefined();
  });

  it('rejects inconsistent pending rotations at the SQL level', async () => {
    await expect(e.store.put({ ...base, n: 'N-3', sn: 2, pendingSn: 2, pendingMkVersion: 1 })).rejects.toThrow(
      /CHECK|check constraint/,
    );
    await expect(e.store.put({ ...base, n: 'N-4', pendingSn: 2 })).rejects.toThrow(/CHECK|check constraint/);
    expect(await e.store.get('N-3')).toBeUndefined();
    expect(await e.store.get('N-4')).toBeUndefined();
  });

  it('refuses a desk that read the series before another desk confirmed the rotation', async () => {
    const prepared = { ...base, n: 'N-5', pendingSn: 2, pendingMkVersion: 1 };
    await e.store.put(prepared);
    const staleRead = await e.other.get('N-5');
    // Desk A confirms the rotation: the card now answers only to series 2.
    await e.store.put({ ...base, n: 'N-5', sn: 2, retiredCount: 1 });
    // Desk B, working from its stale read, writes series 1 back (e.g. a retried prepare).
    await expect(e.other.put({ ...staleRead!, pendingSn: 3, pendingMkVersion: 1 })).rejects.toThrow(/retired/);
    expect(await e.store.get('N-5')).toEqual({ ...base, n: 'N-5', sn: 2, retiredCount: 1 });
  });

  it.runIf(name === 'postgres')(
    'two pools racing: the stale write waits for the confirmation, then is refused with nothing changed',
    async () => {
      const { db, other } = e.pg!;
      await e.store.put({ ...base, n: 'N-6', pendingSn: 2, pendingMkVersion: 1 });
      const staleRead = (await e.other.get('N-6'))!;
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let confirmed!: () => void;
      const written = new Promise<void>((r) => (confirmed = r));
      // Pool 1 confirms inside an open transaction and holds the row lock...
      const confirm = db.transaction(async (tx) => {
        await new PgCardSeriesStore(tx).put({ ...base, n: 'N-6', sn: 2, retiredCount: 1 });
        confirmed();
        await held;
      }, 'read committed');
      await written;
      // ...pool 2's stale upsert starts while the confirmation is uncommitted: it must wait for the
      // row lock, then re-check `excluded.sn >= sn` against the committed series 2 and write nothing.
      const stale = new PgCardSeriesStore(other).put({ ...staleRead, pendingSn: 3, pendingMkVersion: 1 });
      // Proof that it raced: the stale statement is seen waiting on the row lock before we commit.
      const dbName = new URL(other.options.url).pathname.slice(1);
      let waiting = 0;
      for (let i = 0; i < 200 && waiting === 0; i++) {
        const [row] = await server.admin<{ n: number }>(
          dbName,
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO card_key_series%'",
        );
        waiting = row?.n ?? 0;
        if (waiting === 0) await new Promise((r) => setTimeout(r, 10));
      }
      expect(waiting).toBe(1);
      release();
      await confirm;
      await expect(stale).rejects.toThrow(/retired/);
      expect(await e.other.get('N-6')).toEqual({ ...base, n: 'N-6', sn: 2, retiredCount: 1 });
    },
  );
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// PgDatabase's opt-in named prepared statements (parsed and planned once per connection; see
// bench/postgres.bench.ts for what they are worth): the same answers, and a statement whose result
// columns a migration changed under a running process (PostgreSQL: "cached plan must not change
// result type") keeps working — unnamed from then on — alone and inside a transaction.

let server: TestPostgres;
let url: string;
const pools: PgDatabase[] = [];
const open = (preparedStatements: boolean) => {
  const db = new PgDatabase({ url, maxConnections: 1, preparedStatements });
  pools.push(db);
  return db;
};

beforeAll(async () => {
  server = await startPostgres();
  const database = await server.createDatabase('prep');
  url = server.url(database);
  await server.admin(database, 'CREATE TABLE marks (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)');
  await server.admin(database, 'INSERT INTO marks SELECT g, 0 FROM generate_series(1, 10) g');
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  server?.stop();
});

describe('named prepared statements', () => {
  it('are prepared once per connection and give the same answers as unnamed ones', async () => {
    const named = open(true);
    const plain = open(false);
    for (let i = 0; i < 3; i++) await named.query('UPDATE marks SET n = n + 1 WHERE id = ?', [1]);
    expect(await named.query('SELECT id, n FROM marks WHERE id = ?', [1])).toEqual(
      await plain.query('SELECT id, n FROM marks WHERE id = ?', [1]),
    );
    const [row] = await named.query<{ names: string[] }>(
      "SELECT array_agg(name::text ORDER BY name) AS names FROM pg_prepared_statements WHERE name LIKE 'otac\\_%'",
    );
    expect(row?.names).toHaveLength(2);
    // Without the option nothing is prepared by name.
    const [none] = await plain.query<{ n: number }>('SELECT count(*) AS n FROM pg_prepared_statements');
    expect(none?.n).toBe(0);
  });

  it('survive a migration that changes a statement’s result columns, alone and in a transaction', async () => {
    const db = open(true);
    const select = 'SELECT * FROM marks WHERE id = ?';
    expect(await db.query(select, [2])).toEqual([{ id: 2, n: 0 }]);
    await server.admin(url.split('/').at(-1)!, 'ALTER TABLE marks ADD COLUMN note TEXT');
    expect(await db.query(select, [2])).toEqual([{ id: 2, n: 0, note: null }]);

    const inTx = 'SELECT * FROM marks WHERE id = ? AND n >= ?';
    await db.transaction((tx) => tx.query(inTx, [3, 0]), 'read committed');
    await server.admin(url.split('/').at(-1)!, 'ALTER TABLE marks ADD COLUMN more TEXT');
    const rows = await db.transaction(async (tx) => {
      await tx.query('UPDATE marks SET n = n + 1 WHERE id = ?', [3]);
      return tx.query(inTx, [3, 0]);
    }, 'read committed');
    // Ran again whole after the stale plan: the UPDATE counted once.
    expect(rows).toEqual([{ id: 3, n: 1, note: null, more: null }]);
  });
});

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PgDatabase } from '../../src/core/db/pg/pg-database';
import { postgresBinDir, startPostgres, type TestPostgres } from '../../test/support/postgres';

// The PostgreSQL floor for the benchmarks (issue 12 "Done when"): Debian's `pgbench` doing ONE
// durable single-row UPDATE per transaction on a throwaway cluster, and the same UPDATE driven from
// Node through PgDatabase, so a bench can print what it measures as a ratio against the engine's
// own rate on the same cluster in the same run. Reusable: the verification service on PostgreSQL
// starts its cluster with `startBenchCluster`, makes its database, and calls `pgbenchUpdates` on
// it for the baseline at its own concurrency.
//
// Durable commits only: the cluster keeps fsync and synchronous_commit on (the defaults), and
// `assertDurable` refuses to measure otherwise — a rate with commits not on disk is not a floor.

const execFileAsync = promisify(execFile);

export interface Rate {
  /** Transactions (one UPDATE each) per second. */
  readonly tps: number;
  /** Mean latency of one transaction, milliseconds. */
  readonly latencyMs: number;
  readonly transactions: number;
  readonly clients: number;
  /** CPU the Node process used meanwhile, in cores (Node runs only; pgbench's is not measured). */
  readonly clientCores?: number;
}

/** Rows the UPDATEs spread over: enough that 32 clients rarely wait on the same row lock. */
export const FIXTURE_ROWS = 10_000;
const FIXTURE_TABLE = 'bench_marks';
/** The one statement both sides run: a use mark's shape (a counter moved on one row by key). */
export const UPDATE_SQL = `UPDATE ${FIXTURE_TABLE} SET next_index = next_index + 1 WHERE id = ?`;

/** A throwaway cluster for a bench (test/support/postgres.ts: initdb + pg_ctl in a temp dir, default settings). */
export async function startBenchCluster(): Promise<TestPostgres> {
  return startPostgres();
}

/** Throws unless commits are durable on this server (fsync and synchronous_commit on). */
export async function assertDurable(cluster: TestPostgres, database: string): Promise<void> {
  for (const setting of ['fsync', 'synchronous_commit']) {
    const [row] = await cluster.admin<{ v: string }>(database, `SELECT current_setting('${setting}') AS v`);
    if (row?.v !== 'on')
      throw new Error(`${setting} is ${row?.v ?? 'unknown'}: the benchmark measures durable commits only`);
  }
}

/** The one-table fixture: FIXTURE_ROWS rows keyed by id, each with a counter. */
export async function createUpdateFixture(cluster: TestPostgres, database: string): Promise<void> {
  await cluster.admin(database, `CREATE TABLE ${FIXTURE_TABLE} (id BIGINT PRIMARY KEY, next_index BIGINT NOT NULL)`);
  await cluster.admin(
    database,
    `INSERT INTO ${FIXTURE_TABLE} (id, next_index) SELECT g, 1 FROM generate_series(1, ${FIXTURE_ROWS}) g`,
  );
  await cluster.admin(database, `VACUUM ANALYZE ${FIXTURE_TABLE}`);
}

/**
 * pgbench on `url` with a custom script of ONE single-row UPDATE per transaction (autocommit, so
 * each is its own durable commit), `clients` connections over min(clients, cores) threads, for
 * `seconds`. `protocol` 'prepared' (the default: parsed and planned once per connection, pgbench at
 * its fastest) or 'extended' (parsed and planned per statement, as node-postgres sends a query
 * with parameters: the like-for-like reference for a Node client).
 */
export async function pgbenchUpdates(
  url: string,
  clients: number,
  seconds: number,
  dir: string,
  protocol: 'prepared' | 'extended' = 'prepared',
): Promise<Rate> {
  const script = join(dir, 'one-update.sql');
  writeFileSync(script, `\\set id random(1, ${FIXTURE_ROWS})\n${UPDATE_SQL.replace('?', ':id')};\n`);
  const threads = Math.max(1, Math.min(clients, cpus().length));
  const { stdout } = await execFileAsync(
    join(postgresBinDir(), 'pgbench'),
    ['-n', '-M', protocol, '-f', script, '-c', String(clients), '-j', String(threads), '-T', String(seconds), url],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const tps = /^tps = ([\d.]+)/m.exec(stdout)?.[1];
  const latency = /^latency average = ([\d.]+) ms/m.exec(stdout)?.[1];
  const transactions = /^number of transactions actually processed: (\d+)/m.exec(stdout)?.[1];
  const failed = /^number of failed transactions: (\d+)/m.exec(stdout)?.[1];
  if (!tps || !latency || !transactions) throw new Error(`pgbench printed no rate:\n${stdout}`);
  if (failed && Number(failed) > 0) throw new Error(`pgbench: ${failed} transactions failed`);
  return { tps: Number(tps), latencyMs: Number(latency), transactions: Number(transactions), clients };
}

/**
 * The same UPDATE from Node through PgDatabase: `callers` concurrent loops for `seconds`, each
 * awaiting its statement before the next (as `callers` clients would), over a pool of as many
 * connections. `mode` 'statement': `db.query` (autocommit, one round trip); 'transaction':
 * `db.transaction(…, 'read committed')` (BEGIN, UPDATE, COMMIT: what a repository method costs).
 * `preparedStatements`: PgDatabase's option of that name (parsed once per connection, as pgbench's
 * 'prepared').
 */
export async function nodeUpdates(
  url: string,
  callers: number,
  seconds: number,
  mode: 'statement' | 'transaction' = 'statement',
  preparedStatements = false,
): Promise<Rate> {
  const db = new PgDatabase({ url, maxConnections: callers, applicationName: 'otac bench', preparedStatements });
  try {
    const one = (id: number) =>
      mode === 'statement'
        ? db.query(UPDATE_SQL, [id])
        : db.transaction((tx) => tx.query(UPDATE_SQL, [id]), 'read committed');
    // Open every connection and warm the statement path before the clock starts.
    await Promise.all(Array.from({ length: callers }, (_, i) => one(i + 1)));
    let transactions = 0;
    let latencyTotal = 0;
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    const end = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: callers }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          await one(1 + Math.floor(Math.random() * FIXTURE_ROWS));
          latencyTotal += performance.now() - t0;
          transactions++;
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      tps: transactions / elapsed,
      latencyMs: latencyTotal / transactions,
      transactions,
      clients: callers,
      clientCores: (cpu.user + cpu.system) / 1e6 / elapsed,
    };
  } finally {
    await db.close();
  }
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertDurable,
  createUpdateFixture,
  nodeUpdates,
  pgbenchUpdates,
  startBenchCluster,
  type Rate,
} from './support/pgbench';

// The PostgreSQL floor (issue 12 "Done when"): on a throwaway cluster (Debian's server, default
// settings, fsync and synchronous_commit on), pgbench doing one durable single-row UPDATE per
// transaction at 1 and 32 clients (prepared statements; at 32 also parsed per statement, as a Node
// client sends them); then, on the same cluster in the same run, the same UPDATE from Node through
// PgDatabase with 32 concurrent callers — as single statements (autocommit) and as read-committed
// transactions (BEGIN/UPDATE/COMMIT, a repository method's shape), each without and with
// PgDatabase's named prepared statements — as ratios against pgbench at 32 clients. The
// verification service on PostgreSQL joins this bench later (bench/support/pgbench.ts is written
// for that). OTAC_BENCH_PG_SECONDS sets each run's length (default 10 s).

type Report = (name: string, value: number, unit: string) => void;
const SECONDS = Number(process.env['OTAC_BENCH_PG_SECONDS'] ?? 10);

export async function run(report: Report): Promise<void> {
  const cluster = await startBenchCluster();
  const dir = mkdtempSync(join(tmpdir(), 'otac-pgbench-'));
  try {
    const database = await cluster.createDatabase('bench');
    await assertDurable(cluster, database);
    await createUpdateFixture(cluster, database);
    const url = cluster.url(database);
    const line = (name: string, r: Rate) => {
      report(`${name}_tps`, r.tps, 'transactions/s');
      report(`${name}_latency`, r.latencyMs, 'ms mean');
      if (r.clientCores !== undefined) report(`${name}_node_cpu`, r.clientCores, 'cores');
    };
    const pg1 = await pgbenchUpdates(url, 1, SECONDS, dir);
    line('pg.pgbench_update_c1', pg1);
    const pg32 = await pgbenchUpdates(url, 32, SECONDS, dir);
    line('pg.pgbench_update_c32', pg32);
    // The same with the statement parsed per call, as node-postgres sends it: what the protocol costs.
    const extended = await pgbenchUpdates(url, 32, SECONDS, dir, 'extended');
    line('pg.pgbench_extended_update_c32', extended);
    report('pg.pgbench_extended_update_c32_vs_prepared', extended.tps / pg32.tps, '× pgbench c32');
    const statement = await nodeUpdates(url, 32, SECONDS, 'statement');
    line('pg.node_update_c32', statement);
    report('pg.node_update_c32_vs_pgbench', statement.tps / pg32.tps, '× pgbench c32');
    const transaction = await nodeUpdates(url, 32, SECONDS, 'transaction');
    line('pg.node_tx_update_c32', transaction);
    report('pg.node_tx_update_c32_vs_pgbench', transaction.tps / pg32.tps, '× pgbench c32');
    // The same two with PgDatabase's named prepared statements (parsed once per connection).
    const preparedStatement = await nodeUpdates(url, 32, SECONDS, 'statement', true);
    line('pg.node_prepared_update_c32', preparedStatement);
    report('pg.node_prepared_update_c32_vs_pgbench', preparedStatement.tps / pg32.tps, '× pgbench c32');
    const preparedTransaction = await nodeUpdates(url, 32, SECONDS, 'transaction', true);
    line('pg.node_prepared_tx_update_c32', preparedTransaction);
    report('pg.node_prepared_tx_update_c32_vs_pgbench', preparedTransaction.tps / pg32.tps, '× pgbench c32');
  } finally {
    cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

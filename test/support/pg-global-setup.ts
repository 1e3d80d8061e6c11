import { migratePg } from '../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../src/core/db/pg/pg-database';
import { startPostgres } from './postgres';
import { PG_DATA_DIR_ENV, PG_TEMPLATE_ENV, PG_URL_ENV, testEngine } from './test-engine';

// vitest global set-up for the integration and browser tiers: with OTAC_TEST_ENGINE=postgres, one
// throwaway cluster for the whole run (initdb in a temporary directory, no system service) and one
// migrated template database each test's desk is copied from. On SQLite it does nothing.
export default async function setup(): Promise<(() => void) | undefined> {
  if (testEngine !== 'postgres') return undefined;
  // Both tiers name this set-up; in one run (npm test's pass) the second finds the first's cluster.
  if (process.env[PG_URL_ENV]) return undefined;
  const cluster = await startPostgres({ nonDurable: true });
  const template = await cluster.createDatabase('otac_template');
  const db = new PgDatabase({ url: cluster.url(template), ssl: false });
  try {
    await migratePg(db);
  } finally {
    await db.close();
  }
  // Workers start after the global set-up and inherit the environment.
  process.env[PG_URL_ENV] = cluster.url('').replace(/\/$/, '');
  process.env[PG_TEMPLATE_ENV] = template;
  process.env[PG_DATA_DIR_ENV] = cluster.dataDir;
  return () => cluster.stop();
}

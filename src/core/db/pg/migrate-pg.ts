import { AppError } from '../../errors';
import type { Migration } from '../migration';
import { migrations as allMigrations } from '../migrations';
import { sqlState, type PgDatabase } from './pg-database';
import { pgMigrationSql } from './pg-migrations';

// The schema check and migrations on PostgreSQL, with the same rules as SQLite's `migrate`
// (database.ts): a foreign database, a newer schema or another build's migration is refused with
// nothing changed; every known migration the database lacks is applied, in order, each in its own
// transaction (PostgreSQL's DDL is transactional). Several desks and services may start at once:
// each migration begins by inserting its row into schema_migrations, so a second process blocks on
// that key until the first commits, then fails the insert, rolls back and finds it applied. No
// advisory lock (distributed PostgreSQL-compatible engines lack it).

/** Marks a database as the issuer's: SQLite has its application_id, PostgreSQL this one-row table. */
const APP_MARK = 'OTAC issuer database';

export async function migratePg(db: PgDatabase, migrations: readonly Migration[] = allMigrations): Promise<void> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  for (const m of sorted) {
    if (pgMigrationSql[m.version] === undefined)
      throw new Error(`migration ${m.version} (${m.name}) has no PostgreSQL form in pg-migrations.ts`);
  }
  await claimDatabase(db);
  const applied = await checkApplied(db, sorted);
  const done = new Set(applied.map((r) => r.version));
  for (const m of sorted) {
    if (done.has(m.version)) continue;
    try {
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          new Date().toISOString(),
        ]);
        await tx.query(pgMigrationSql[m.version] ?? '');
      });
    } catch (err) {
      // Another process applied it first (its row committed while ours waited on the key).
      if (sqlState(err) !== '23505') throw err;
    }
  }
}

/**
 * For a process that uses the schema but must not make it (the verification service, issue 12):
 * the same refusals as migratePg (foreign, newer, another build's), and a database that lacks a
 * migration this build knows is refused too, with nothing changed. A desk or `migratePg` makes it.
 */
export async function assertPgSchemaCurrent(
  db: PgDatabase,
  migrations: readonly Migration[] = allMigrations,
): Promise<void> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const mark = await markOf(db);
  const applied = mark === undefined ? [] : await checkApplied(db, sorted);
  const done = new Set(applied.map((r) => r.version));
  const missing = sorted.filter((m) => !done.has(m.version));
  if (missing.length > 0)
    throw new AppError(
      'DB_NOT_MIGRATED',
      mark === undefined
        ? 'The PostgreSQL database named by OTAC_DATABASE_URL has no issuer schema yet. Start a workstation on it ' +
            '(it creates the schema), then start the verification service again; nothing was changed.'
        : `The issuer database lacks migration ${missing[0]!.version} (${missing[0]!.name}) of this version. Start an ` +
            'updated workstation on it first (it migrates the schema), then start the verification service again; nothing was changed.',
    );
}

/** The applied migrations, after refusing a newer schema or another build's migration. */
async function checkApplied(
  db: PgDatabase,
  sorted: readonly Migration[],
): Promise<{ version: number; name: string }[]> {
  const applied = await db.query<{ version: number; name: string }>(
    'SELECT version, name FROM schema_migrations ORDER BY version',
  );
  const newest = applied.at(-1)?.version ?? 0;
  const newestKnown = sorted.at(-1)?.version ?? 0;
  if (newest > newestKnown)
    throw new AppError(
      'DB_TOO_NEW',
      `The issuer database was written by a newer workstation (schema ${newest}, this version knows ${newestKnown}). ` +
        'Update the workstation; nothing was changed.',
    );
  const byVersion = new Map(sorted.map((m) => [m.version, m]));
  for (const row of applied) {
    if (byVersion.get(row.version)?.name !== row.name)
      throw new AppError(
        'DB_SCHEMA_MISMATCH',
        `The issuer database's migration ${row.version} (${row.name}) is not the one this workstation has. ` +
          'It belongs to another build; nothing was changed.',
      );
  }
  return applied;
}

/**
 * An empty database becomes ours; one with our mark is ours; anything else (tables of another
 * application) is refused. The mark and schema_migrations are created together, once.
 */
async function claimDatabase(db: PgDatabase): Promise<void> {
  if ((await markOf(db)) === APP_MARK) return;
  try {
    await db.transaction(async (tx) => {
      await tx.query(`CREATE TABLE otac_database (
        only_row BIGINT PRIMARY KEY CHECK (only_row = 1),
        application TEXT NOT NULL,
        created_at TEXT NOT NULL
      )`);
      await tx.query('INSERT INTO otac_database (only_row, application, created_at) VALUES (1, $1, $2)', [
        APP_MARK,
        new Date().toISOString(),
      ]);
      await tx.query(`CREATE TABLE schema_migrations (
        version BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TEXT NOT NULL
      )`);
    });
  } catch (err) {
    // 42P07: another process created them first; 23505: its catalogue row won the race.
    if (!['42P07', '23505'].includes(sqlState(err) ?? '')) throw err;
    if ((await readMark(db)) !== APP_MARK) throw foreign();
  }
}

/**
 * The issuer's mark, or undefined for a database with no table yet; another application's database is
 * refused. Tables seen after no mark was: another process claiming the database just now (its mark
 * and tables commit together, between our two looks), so the mark is read again before refusing —
 * two desks starting at once on an empty database must not take each other for a foreign one.
 */
async function markOf(db: PgDatabase): Promise<typeof APP_MARK | undefined> {
  const mark = await readMark(db);
  if (mark === APP_MARK) return APP_MARK;
  if (mark !== undefined) throw foreign();
  if ((await userTableCount(db)) === 0) return undefined;
  if ((await readMark(db)) === APP_MARK) return APP_MARK;
  throw foreign();
}

async function readMark(db: PgDatabase): Promise<string | undefined> {
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('otac_database')::text AS t");
  if (!exists[0]?.t) return undefined;
  const rows = await db.query<{ application: string }>('SELECT application FROM otac_database');
  return rows[0]?.application ?? '';
}

async function userTableCount(db: PgDatabase): Promise<number> {
  const rows = await db.query<{ n: number }>(
    `SELECT count(*) AS n FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  return Number(rows[0]?.n ?? 0);
}

function foreign(): AppError {
  return new AppError(
    'DB_FOREIGN',
    'The PostgreSQL database named by OTAC_DATABASE_URL belongs to another application. ' +
      'Point the workstation at the issuer database; nothing was changed.',
  );
}

import { randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import pg from 'pg';
import { AuditService, type AuditTrail } from '../../src/core/audit/audit.service';
import { PgAuditLog, PgAuditTrail } from '../../src/core/audit/audit-log.pg';
import { PgDatabase, type PgDatabaseOptions } from '../../src/core/db/pg/pg-database';
import { DbPolicySource, type PolicySource } from '../../src/core/policy/policy.service';
import { PgPolicySource } from '../../src/core/policy/policy-source.pg';
import { pgRepositories, sqliteRepositories, type IssuerRepositories } from '../../src/core/db/repositories';
import type { DeskWorkstation } from '../../src/core/workstation';

// Which engine the integration and browser tiers run on (issue 12: "the integration suite passes on
// both engines"). `npm test` runs them on the desk's SQLite file, then again with
// OTAC_TEST_ENGINE=postgres on one throwaway cluster (test/support/pg-global-setup.ts), each test's
// desk on a fresh database copied from a migrated template.

export type TestEngine = 'sqlite' | 'postgres';

export const testEngine: TestEngine = process.env['OTAC_TEST_ENGINE'] === 'postgres' ? 'postgres' : 'sqlite';

/** Set by the global set-up: the cluster's superuser URL without a database name, and the template's name. */
export const PG_URL_ENV = 'OTAC_TEST_PG_URL';
export const PG_TEMPLATE_ENV = 'OTAC_TEST_PG_TEMPLATE';

/**
 * Looking behind the code's back in assertions, on either engine: the same SQL with `?` placeholders
 * (numbered on PostgreSQL as the repositories' are). On PostgreSQL it runs as the superuser, so a test
 * may also tamper with what the desk's own login could not.
 */
export interface DeskSql {
  all<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T | undefined>;
  run(sql: string, ...params: unknown[]): Promise<void>;
  /** The desk's repositories on the same database: seeding rows the way the code writes them. */
  readonly repos: IssuerRepositories;
  /** The desk's audit trail on the same database (one chain with the desk's own entries). */
  readonly audit: AuditTrail;
  /** The policies in force on the same database; on PostgreSQL `refresh()` before reading them. */
  readonly policies: PolicySource;
}

export function sqliteSql(db: Database): DeskSql {
  const audit = new AuditService(db);
  return {
    all: async <T>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as T[],
    get: async <T>(sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as T | undefined,
    run: async (sql: string, ...params: unknown[]) => void db.prepare(sql).run(...params),
    repos: sqliteRepositories(db, audit),
    audit,
    policies: new DbPolicySource(db),
  };
}

export function pgSqlOf(db: PgDatabase): DeskSql {
  const audit = new PgAuditTrail(new PgAuditLog(db));
  return {
    all: async <T>(sql: string, ...params: unknown[]) => (await db.query(sql, params)) as T[],
    get: async <T>(sql: string, ...params: unknown[]) => (await db.query(sql, params))[0] as T | undefined,
    run: async (sql: string, ...params: unknown[]) => void (await db.query(sql, params)),
    repos: pgRepositories(db, audit),
    audit,
    policies: new PgPolicySource(db),
  };
}

const registry = new WeakMap<DeskWorkstation, DeskSql>();

/** Kept by freshWorkstation and openDesk, so helpers given only the desk can look behind it (deskSql). */
export function registerDeskSql(ws: DeskWorkstation, sql: DeskSql): void {
  registry.set(ws, sql);
}

/** The look-up of a desk the test helpers opened (freshWorkstation, openDesk). */
export function deskSql(ws: DeskWorkstation): DeskSql {
  const sql = registry.get(ws);
  if (!sql) throw new Error('deskSql: this desk was not opened by freshWorkstation or openDesk');
  return sql;
}

export interface TestDatabase {
  /** What the desk opens (openWorkstation's `database`). */
  readonly options: PgDatabaseOptions;
  readonly sql: DeskSql;
  /** Closes the look-up connection and drops the database (after the desk closed). */
  drop(): Promise<void>;
}

function clusterUrl(): string {
  const url = process.env[PG_URL_ENV];
  if (!url)
    throw new Error(
      `OTAC_TEST_ENGINE=postgres needs the test cluster: run through vitest (its global set-up starts one), not ${PG_URL_ENV} unset`,
    );
  return url;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${clusterUrl()}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database on the test cluster, a copy of the migrated template (milliseconds, not a migration run). */
export async function freshTestDatabase(): Promise<TestDatabase> {
  const template = process.env[PG_TEMPLATE_ENV];
  if (!template) throw new Error(`${PG_TEMPLATE_ENV} is not set: the PostgreSQL global set-up did not run`);
  const name = `desk_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  const options: PgDatabaseOptions = { url: `${clusterUrl()}/${name}`, ssl: false };
  const lookup = new PgDatabase({ ...options, maxConnections: 2, applicationName: 'otac-test-lookup' });
  return {
    options,
    sql: pgSqlOf(lookup),
    async drop() {
      await lookup.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Set by the global set-up: the test cluster's data directory (tables, WAL), for scans of what the server keeps on disk. */
export const PG_DATA_DIR_ENV = 'OTAC_TEST_PG_DATA_DIR';

/** The test cluster's data directory, on a PostgreSQL run (see PG_DATA_DIR_ENV). */
export function testClusterDataDir(): string {
  const dir = process.env[PG_DATA_DIR_ENV];
  if (!dir) throw new Error(`${PG_DATA_DIR_ENV} is not set: the PostgreSQL global set-up did not run`);
  return dir;
}

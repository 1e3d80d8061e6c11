import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../../src/core/db/migrations';
import { assertPgSchemaCurrent, migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// The check a process runs when it uses the issuer schema but must not make it (the verification
// service, issue 12): every refusal of migratePg, and a database short of this build's migrations,
// each with nothing created or changed.

describe('assertPgSchemaCurrent', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(() => server?.stop());

  const withDb = async (work: (db: PgDatabase, name: string) => Promise<void>) => {
    const name = await server.createDatabase();
    const db = new PgDatabase({ url: server.url(name) });
    try {
      await work(db, name);
    } finally {
      await db.close();
    }
  };
  const tables = async (name: string) =>
    (
      await server.admin<{ n: number }>(
        name,
        "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'",
      )
    )[0]?.n;

  const refusal = (db: PgDatabase) =>
    assertPgSchemaCurrent(db).then(
      () => ({ code: 'none', message: 'no refusal' }),
      (err: { code: string; message: string }) => err,
    );

  it('passes on a database migrated to this build', () =>
    withDb(async (db) => {
      await migratePg(db);
      await expect(assertPgSchemaCurrent(db)).resolves.toBeUndefined();
    }));

  it('refuses an empty database, and one short of a migration, creating nothing', () =>
    withDb(async (db, name) => {
      const empty = await refusal(db);
      expect(empty.code).toBe('DB_NOT_MIGRATED');
      expect(empty.message).toMatch(/no issuer schema yet.*workstation/);
      expect(await tables(name)).toBe(0);
      const sorted = [...migrations].sort((a, b) => a.version - b.version);
      await migratePg(db, sorted.slice(0, -1));
      const before = await tables(name);
      const last = sorted.at(-1)!;
      const short = await refusal(db);
      expect(short.code).toBe('DB_NOT_MIGRATED');
      expect(short.message).toContain(`migration ${last.version}`);
      expect(await tables(name)).toBe(before);
    }));

  it('refuses a newer schema, another build’s migration, and another application’s database', () =>
    withDb(async (db) => {
      await migratePg(db);
      await db.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')");
      await expect(assertPgSchemaCurrent(db)).rejects.toMatchObject({ code: 'DB_TOO_NEW' });
      await db.query('DELETE FROM schema_migrations WHERE version = 9999');
      await db.query("UPDATE schema_migrations SET name = 'someone-elses' WHERE version = 8");
      await expect(assertPgSchemaCurrent(db)).rejects.toMatchObject({ code: 'DB_SCHEMA_MISMATCH' });
      const other = await server.createDatabase();
      await server.admin(other, 'CREATE TABLE invoices (id int)');
      const foreign = new PgDatabase({ url: server.url(other) });
      try {
        await expect(assertPgSchemaCurrent(foreign)).rejects.toMatchObject({ code: 'DB_FOREIGN' });
      } finally {
        await foreign.close();
      }
    }));

  /** A real connection to `url` that runs `meanwhile` right after the check's first look at the mark. */
  const afterFirstLook = (url: string, meanwhile: () => Promise<unknown>) => {
    const state = { looked: false };
    const db = new (class extends PgDatabase {
      override async query<T extends Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
        const rows = await super.query<T>(sql, params);
        if (!state.looked && sql.includes("to_regclass('otac_database')")) {
          state.looked = true;
          await meanwhile();
        }
        return rows;
      }
    })({ url });
    return { db, state };
  };

  it('a desk claiming the database between the check’s two looks is not taken for another application', () =>
    withDb(async (_db, name) => {
      // Two desks starting at once on an empty database (branch-network.test.ts): one reads no mark,
      // the other commits its mark and tables, the first then counts tables. Forced here: the other
      // desk's whole migration runs right after this check's first look at the mark.
      const other = new PgDatabase({ url: server.url(name) });
      const racing = afterFirstLook(server.url(name), () => migratePg(other));
      // Another application's tables appearing the same way are still refused.
      const foreignName = await server.createDatabase();
      const invoices = afterFirstLook(server.url(foreignName), () =>
        server.admin(foreignName, 'CREATE TABLE invoices (id int)'),
      );
      try {
        await expect(assertPgSchemaCurrent(racing.db)).resolves.toBeUndefined();
        expect(racing.state.looked).toBe(true);
        expect(await tables(name)).toBeGreaterThan(2);
        await expect(assertPgSchemaCurrent(invoices.db)).rejects.toMatchObject({ code: 'DB_FOREIGN' });
        expect(invoices.state.looked).toBe(true);
        expect(await tables(foreignName)).toBe(1);
      } finally {
        await Promise.all([racing.db.close(), invoices.db.close(), other.close()]);
      }
    }));
});

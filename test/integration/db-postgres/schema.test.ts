import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 1: the migrations on PostgreSQL (Debian's server, a throwaway cluster) end with the
// schema SQLite has, and the schema check refuses what it refuses on SQLite.

/** Bookkeeping only PostgreSQL has: its schema mark and migrations list, and the audit chain's head. */
const PG_ONLY_TABLES = "'schema_migrations', 'otac_database', 'audit_head'";
/** Indexes PostgreSQL needs where SQLite says it in a column's collation. */
const PG_ONLY_INDEXES = new Set(['operators_username_nocase']);
/** The chain head's guards (migration 0023): SQLite has no head, and its one writer is the file's owner. */
const PG_ONLY_TRIGGERS = new Set(['audit_log_continues_chain', 'audit_log_moves_head', 'audit_head_moves_by_append']);
const ZEROS = '0'.repeat(64);

interface Column {
  table: string;
  column: string;
  type: string;
  notNull: boolean;
}

function sqliteSchema() {
  const db = openDatabase(':memory:');
  try {
    const tables = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'",
        )
        .all() as { name: string }[]
    ).map((t) => t.name);
    const columns: Column[] = [];
    for (const table of tables) {
      for (const c of db.prepare(`PRAGMA table_info(${table})`).all() as {
        name: string;
        type: string;
        notnull: number;
        pk: number;
      }[])
        columns.push({
          table,
          column: c.name,
          type: c.type === 'INTEGER' ? 'bigint' : c.type.toLowerCase(),
          // SQLite's INTEGER PRIMARY KEY is NOT NULL in effect; PostgreSQL says so.
          notNull: c.notnull === 1 || c.pk > 0,
        });
    }
    const indexes = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").all() as { name: string }[]
    ).map((i) => i.name);
    const triggers = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as { name: string }[]
    ).map((t) => t.name);
    return { columns, indexes, triggers };
  } finally {
    db.close();
  }
}

async function pgSchema(pg: PgDatabase) {
  const columns = (
    await pg.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
      `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name NOT IN (${PG_ONLY_TABLES})`,
    )
  ).map((c) => ({ table: c.table_name, column: c.column_name, type: c.data_type, notNull: c.is_nullable === 'NO' }));
  // Indexes made by CREATE INDEX, not the ones behind PRIMARY KEY / UNIQUE constraints.
  const indexes = (
    await pg.query<{ indexname: string }>(
      `SELECT i.indexname FROM pg_indexes i
        WHERE i.schemaname = current_schema()
          AND i.tablename NOT IN (${PG_ONLY_TABLES})
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    )
  ).map((i) => i.indexname);
  const triggers = (
    await pg.query<{ tgname: string }>(
      `SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace`,
    )
  ).map((t) => t.tgname);
  return { columns, indexes, triggers };
}

const byKey = (c: Column) => `${c.table}.${c.column}`;
const sortCols = (cs: Column[]) => [...cs].sort((a, b) => byKey(a).localeCompare(byKey(b)));

describe('the issuer schema on PostgreSQL', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(() => server?.stop());

  async function freshDb(): Promise<{ name: string; db: PgDatabase }> {
    const name = await server.createDatabase();
    return { name, db: new PgDatabase({ url: server.url(name) }) };
  }

  it('ends with the same tables, columns, types, NOT NULLs, indexes and triggers as SQLite', async () => {
    const { db } = await freshDb();
    try {
      await migratePg(db);
      const lite = sqliteSchema();
      const post = await pgSchema(db);
      expect(sortCols(post.columns)).toEqual(sortCols(lite.columns));
      expect(post.indexes.filter((i) => !PG_ONLY_INDEXES.has(i)).sort()).toEqual([...lite.indexes].sort());
      expect(post.triggers.filter((t) => !PG_ONLY_TRIGGERS.has(t)).sort()).toEqual([...lite.triggers].sort());
      expect(post.triggers.filter((t) => PG_ONLY_TRIGGERS.has(t)).sort()).toEqual([...PG_ONLY_TRIGGERS].sort());
      const applied = await db.query<{ version: number; name: string }>(
        'SELECT version, name FROM schema_migrations ORDER BY version',
      );
      expect(applied).toEqual(migrations.map((m) => ({ version: m.version, name: m.name })));
    } finally {
      await db.close();
    }
  });

  it('the comparison can fail: a column added on PostgreSQL only is seen', async () => {
    const { db } = await freshDb();
    try {
      await migratePg(db);
      await db.query('ALTER TABLE cards ADD COLUMN only_here TEXT');
      const post = await pgSchema(db);
      expect(sortCols(post.columns)).not.toEqual(sortCols(sqliteSchema().columns));
    } finally {
      await db.close();
    }
  });

  it('running the migrations again changes nothing; three processes starting at once apply each once', async () => {
    const { name } = await freshDb();
    const pools = [0, 1, 2].map(() => new PgDatabase({ url: server.url(name) }));
    try {
      await Promise.all(pools.map((p) => migratePg(p)));
      await migratePg(pools[0]!);
      const rows = await server.admin<{ version: string; n: string }>(
        name,
        'SELECT version, count(*) AS n FROM schema_migrations GROUP BY version',
      );
      expect(rows.length).toBe(migrations.length);
      expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });

  it('refuses a schema newer than this code, or another build’s migration, with nothing changed', async () => {
    const { name, db } = await freshDb();
    try {
      await migratePg(db);
      await db.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from-the-future', 'x')");
      const before = await server.admin(name, 'SELECT * FROM schema_migrations ORDER BY version');
      await expect(migratePg(db)).rejects.toMatchObject({ code: 'DB_TOO_NEW' });
      await db.query('DELETE FROM schema_migrations WHERE version = 9999');
      await db.query("UPDATE schema_migrations SET name = 'someone-elses' WHERE version = 8");
      await expect(migratePg(db)).rejects.toMatchObject({ code: 'DB_SCHEMA_MISMATCH' });
      // A migration this code knows but the database lacks would have been applied had the check
      // not refused first: the refusal comes before any change.
      await expect(migratePg(db, [...migrations, { version: 10_000, name: 'x', up: () => undefined }])).rejects.toThrow(
        /no PostgreSQL form/,
      );
      const after = await server.admin(name, 'SELECT * FROM schema_migrations ORDER BY version');
      expect(after.length).toBe(before.length - 1);
    } finally {
      await db.close();
    }
  });

  it('refuses a database of another application and creates nothing in it', async () => {
    const { name, db } = await freshDb();
    try {
      await server.admin(name, 'CREATE TABLE invoices (id INT PRIMARY KEY)');
      await expect(migratePg(db)).rejects.toMatchObject({ code: 'DB_FOREIGN' });
      const tables = await server.admin<{ table_name: string }>(
        name,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
      );
      expect(tables.map((t) => t.table_name)).toEqual(['invoices']);
    } finally {
      await db.close();
    }
  });

  it('keeps audit_log, policy_versions and checkpoints append-only in SQL, as SQLite does', async () => {
    const { db } = await freshDb();
    try {
      await migratePg(db);
      await db.query(
        `INSERT INTO audit_log (at, action, outcome, prev_hash, hash) VALUES ('2026-01-01T00:00:00Z', 'x', 'ok', '${ZEROS}', 'b')`,
      );
      await expect(db.query("UPDATE audit_log SET action = 'y'")).rejects.toThrow(/append-only/);
      await expect(db.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
      expect(await db.query('SELECT action FROM audit_log')).toEqual([{ action: 'x' }]);
    } finally {
      await db.close();
    }
  });

  it('moves the audit chain head only by appending, even for the owner (migration 0023)', async () => {
    const { db } = await freshDb();
    const head = async () => (await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head'))[0];
    const insert = (seq: number, prev: string, hash: string) =>
      db.query(
        `INSERT INTO audit_log (seq, at, action, outcome, prev_hash, hash) VALUES (?, '2026-01-01T00:00:00Z', 'x', 'ok', ?, ?)`,
        [seq, prev, hash],
      );
    try {
      await migratePg(db);
      // An entry must continue the chain at its head: the right seq AND the head's hash as prev_hash.
      await expect(insert(2, ZEROS, 'h2')).rejects.toThrow(/does not continue the chain/);
      await expect(insert(1, 'f'.repeat(64), 'h1')).rejects.toThrow(/does not continue the chain/);
      expect(await head()).toEqual({ seq: 0, hash: ZEROS });
      // One that does moves the head with it, in the same statement.
      await insert(1, ZEROS, 'h1');
      expect(await head()).toEqual({ seq: 1, hash: 'h1' });
      await insert(2, 'h1', 'h2');
      expect(await head()).toEqual({ seq: 2, hash: 'h2' });
      // By hand the head moves nowhere: not back, not on past the log, not to another hash.
      for (const [seq, hash] of [
        [1, 'h1'],
        [3, 'h3'],
        [2, 'forged'],
        [0, ZEROS],
      ] as const) {
        await expect(
          db.query('UPDATE audit_head SET seq = ?, hash = ?', [seq, hash]),
          `${seq} ${hash}`,
        ).rejects.toThrow(/moves only by appending/);
      }
      // …and writing it as it is changes nothing (allowed).
      await db.query("UPDATE audit_head SET seq = 2, hash = 'h2'");
      expect(await head()).toEqual({ seq: 2, hash: 'h2' });
      expect((await db.query<{ n: number }>('SELECT count(*) AS n FROM audit_log'))[0]?.n).toBe(2);
    } finally {
      await db.close();
    }
  });

  it('reads counts and ids back as numbers, and runs a contended transaction again rather than losing it', async () => {
    const { db } = await freshDb();
    try {
      await migratePg(db);
      await db.query(
        `INSERT INTO operators (username, display_name, role, password_hash, created_at, updated_at)
         VALUES ('a', 'A', 'clerk', 'h', 'now', 'now')`,
      );
      // Read-then-write from 8 transactions at once: SERIALIZABLE makes all but one fail with
      // 40001, and each failed one runs again, so no increment is lost.
      await Promise.all(
        Array.from({ length: 8 }, () =>
          db.transaction(async (tx) => {
            const [row] = await tx.query<{ failed_attempts: number }>('SELECT failed_attempts FROM operators');
            await tx.query('UPDATE operators SET failed_attempts = $1', [(row?.failed_attempts ?? 0) + 1]);
          }),
        ),
      );
      const [row] = await db.query<{ id: number; failed_attempts: number }>(
        'SELECT id, failed_attempts FROM operators',
      );
      expect(row).toEqual({ id: 1, failed_attempts: 8 });
    } finally {
      await db.close();
    }
  });

  it('an unreachable server is one clear refusal', async () => {
    const db = new PgDatabase({ url: 'postgres://postgres@127.0.0.1:1/otac', connectTimeoutMs: 2000 });
    try {
      const err = await db.query('SELECT 1').then(
        () => null,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(err?.code).toBe('DB_UNREACHABLE');
      expect(err?.message).toMatch(/cannot be reached\. Nothing was saved/);
      await expect(db.transaction(async (tx) => tx.query('SELECT 1'))).rejects.toMatchObject({
        code: 'DB_UNREACHABLE',
      });
    } finally {
      await db.close();
    }
  });
});

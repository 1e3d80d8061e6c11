import type { DeskWorkstation } from '../../src/core/workstation';
import { deskSql, testEngine } from './test-engine';

/**
 * What the desk's database holds, as bytes a test searches for a secret that must never be stored in
 * clear. On SQLite the database is its files under the data directory (the test reads those): the WAL
 * is checkpointed first so every write is in them, and nothing more is returned. On PostgreSQL the
 * database is on the cluster, so every row of every table is returned, bytea values as their raw bytes.
 */
export async function databaseContents(ws: DeskWorkstation): Promise<{ where: string; bytes: Buffer }[]> {
  const sql = deskSql(ws);
  if (testEngine === 'sqlite') {
    await sql.all('PRAGMA wal_checkpoint(PASSIVE)');
    return [];
  }
  const tables = await sql.all<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  );
  const contents: { where: string; bytes: Buffer }[] = [];
  for (const { name } of tables) {
    const rows = await sql.all(`SELECT * FROM "${name}"`);
    const values = rows.flatMap((row) =>
      Object.values(row).map((v) =>
        Buffer.isBuffer(v) ? v : Buffer.from(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`, 'utf8'),
      ),
    );
    contents.push({ where: `table ${name}`, bytes: Buffer.concat(values) });
  }
  return contents;
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeskWorkstation } from '../../src/core/workstation';
import { deskSql, testEngine } from './test-engine';

/**
 * Everything the desk's database holds, as text for a leak scan (K, a PIN, a key in any encoding):
 * on SQLite the file and its WAL byte for byte (after a checkpoint, so nothing hides in memory); on
 * PostgreSQL the cluster's files are not the test's to read, so every row of every table, each value
 * as it is stored (bytea as its raw bytes, text as is). Each entry is [where, text].
 */
export async function databaseContents(ws: DeskWorkstation, dataDir: string): Promise<[string, string][]> {
  const sql = deskSql(ws);
  if (testEngine === 'sqlite') {
    await sql.get('PRAGMA wal_checkpoint(PASSIVE)');
    return ['workstation.db', 'workstation.db-wal']
      .map((f) => join(dataDir, f))
      .filter((f) => existsSync(f))
      .map((f): [string, string] => [f, readFileSync(f).toString('latin1')]);
  }
  const tables = await sql.all<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const contents: [string, string][] = [];
  for (const { name } of tables) {
    const rows = await sql.all(`SELECT * FROM "${name}"`);
    contents.push([`table ${name}`, rows.map((row) => Object.values(row).map(storedText).join('\t')).join('\n')]);
  }
  return contents;
}

function storedText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return v.toString();
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

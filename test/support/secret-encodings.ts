import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { testClusterDataDir, type DeskSql } from './test-engine';

/** The forms a leaked secret would take in a file, a log or an answer: raw bytes, hex (both cases), base64. */
export function encodings(secret: Buffer): string[] {
  const hex = secret.toString('hex');
  return [secret.toString('latin1'), hex, hex.toUpperCase(), secret.toString('base64'), secret.toString('base64url')];
}

/** Every file under `dir` (a data directory: database, WAL, logs, keystore), for a scan after a run. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * On a PostgreSQL run, the files the test cluster keeps a desk's database in, for a secret scan: after
 * a CHECKPOINT (so the table pages are on disk, not only in the WAL), the WAL, the shared catalogs and
 * this database's directory — not the other desks' copies of the run.
 */
export async function clusterFilesOf(sql: DeskSql): Promise<string[]> {
  await sql.run('CHECKPOINT');
  const own = await sql.get<{ oid: number }>(
    'SELECT CAST(oid AS BIGINT) AS oid FROM pg_database WHERE datname = current_database()',
  );
  if (!own) throw new Error('the desk database is not in pg_database');
  const cluster = testClusterDataDir();
  const base = join(cluster, 'base');
  const ownBase = join(base, String(own.oid));
  return filesUnder(cluster).filter((f) => !f.startsWith(`${base}/`) || f.startsWith(`${ownBase}/`));
}

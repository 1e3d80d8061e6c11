import BetterSqlite3, { type Database } from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Migration } from './migration';
import { migrations as allMigrations } from './migrations';
import { AppError } from '../errors';
import { makePrivateDir, PRIVATE_FILE_MODE, restrictFile } from '../private-files';

export type { Database };

const APP_ID = 0x4f544143; // "OTAC": marks the file as ours, so a foreign SQLite file is refused.

/**
 * Open (or create) the workstation database: WAL, foreign keys, busy timeout for the
 * several-processes-one-file path, then migrations in one transaction each.
 * Refuses a file that is not SQLite, belongs to another application, or has a schema
 * newer than this code knows — and changes nothing in those cases.
 */
export function openDatabase(file: string, migrations: readonly Migration[] = allMigrations): Database {
  if (file !== ':memory:') createPrivately(file);
  let db: Database;
  try {
    db = new BetterSqlite3(file, { fileMustExist: false });
    db.pragma('busy_timeout = 5000');
    db.pragma('schema_version'); // forces the header to be read: a non-SQLite file fails here
  } catch (err) {
    throw new AppError(
      'DB_CORRUPT',
      `The database file ${file} cannot be read as a workstation database (${(err as Error).message}). ` +
        'Restore it from backup or point the workstation at another data directory; nothing was changed.',
    );
  }
  try {
    checkOwnership(db, file);
    if (file !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    migrate(db, migrations);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * The database holds password hashes and the audit trail: 0600 in a 0700 folder. SQLite creates
 * -wal and -shm with the main file's mode, so the main file is made (or tightened) before it opens;
 * the ones an earlier version left readable are tightened too.
 */
function createPrivately(file: string): void {
  makePrivateDir(dirname(file));
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) restrictFile(f);
}

function checkOwnership(db: Database, file: string): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
  if (appId === 0 && tables.n === 0) {
    db.pragma(`application_id = ${APP_ID}`);
    return;
  }
  if (appId !== APP_ID) {
    throw new AppError(
      'DB_FOREIGN',
      `The file ${file} is an SQLite database of another application. ` +
        'Point the workstation at its own data directory; nothing was changed.',
    );
  }
}

export function migrate(db: Database, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`);
  // Numbers are handed out per feature (docs/storage.md): unique, not contiguous. A database gets
  // every known migration it lacks, in order.
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  sorted.forEach((m, i) => {
    if (m.version < 1 || (i > 0 && m.version === sorted[i - 1]?.version))
      throw new Error(`migration numbering has a duplicate or a bad number at ${m.name}`);
  });
  const byVersion = new Map(sorted.map((m) => [m.version, m]));
  const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as {
    version: number;
    name: string;
  }[];
  const newest = applied.at(-1)?.version ?? 0;
  const newestKnown = sorted.at(-1)?.version ?? 0;
  if (newest > newestKnown) {
    throw new AppError(
      'DB_TOO_NEW',
      `The database was written by a newer workstation (schema ${newest}, this version knows ${newestKnown}). ` +
        'Update the workstation; nothing was changed.',
    );
  }
  for (const row of applied) {
    const known = byVersion.get(row.version);
    if (!known || known.name !== row.name) {
      throw new AppError(
        'DB_SCHEMA_MISMATCH',
        `The database's migration ${row.version} (${row.name}) is not the one this workstation has. ` +
          'It belongs to another build; nothing was changed.',
      );
    }
  }
  const done = new Set(applied.map((r) => r.version));
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of sorted.filter((x) => !done.has(x.version))) {
    db.transaction(() => {
      m.up(db);
      record.run(m.version, m.name, new Date().toISOString());
    })();
  }
}

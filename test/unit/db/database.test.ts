import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import type { Migration } from '../../../src/core/db/migration';
import { thrown } from '../../support/thrown';

describe('openDatabase', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'otac-db-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a WAL database with foreign keys and every migration recorded', () => {
    const db = openDatabase(join(dir, 'w.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    expect(applied).toEqual(migrations.map((m) => ({ version: m.version, name: m.name })));
    db.close();
  });

  it('opens an existing database again without reapplying anything', () => {
    openDatabase(join(dir, 'w.db')).close();
    const db = openDatabase(join(dir, 'w.db'));
    expect((db.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n).toBe(
      migrations.length,
    );
    db.close();
  });

  it('refuses a file that is not SQLite and leaves it byte for byte', () => {
    const file = join(dir, 'w.db');
    writeFileSync(file, 'this is a spreadsheet, not a database'.repeat(200));
    const before = readFileSync(file);
    expect(thrown(() => openDatabase(file))).toMatchObject({ code: 'DB_CORRUPT' });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("refuses another application's SQLite file and leaves it unchanged", () => {
    const file = join(dir, 'w.db');
    const other = new BetterSqlite3(file);
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)');
    other.close();
    const before = readFileSync(file);
    expect(thrown(() => openDatabase(file))).toMatchObject({ code: 'DB_FOREIGN' });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a schema newer than the code knows, with a clear message, and changes nothing', () => {
    const file = join(dir, 'w.db');
    const future: Migration = {
      version: Math.max(...migrations.map((m) => m.version)) + 1,
      name: 'from-the-future',
      up: (db) => db.exec('CREATE TABLE future (x INTEGER) STRICT'),
    };
    openDatabase(file, [...migrations, future]).close();
    copyFileSync(file, join(dir, 'copy.db'));
    const before = readFileSync(file);
    const err = thrown(() => openDatabase(file));
    expect(err).toMatchObject({ code: 'DB_TOO_NEW' });
    expect(err.message).toContain('newer workstation');
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a database whose applied migration has another name', () => {
    const file = join(dir, 'w.db');
    const renamed = migrations.map((m, i) => (i === 0 ? { ...m, name: 'something-else' } : m));
    openDatabase(file, renamed).close();
    expect(thrown(() => openDatabase(file))).toMatchObject({ code: 'DB_SCHEMA_MISMATCH' });
  });

  it('rolls back a migration that fails half way and records nothing for it', () => {
    const file = join(dir, 'w.db');
    const broken: Migration = {
      version: Math.max(...migrations.map((m) => m.version)) + 1,
      name: 'broken',
      up: (db) => {
        db.exec('CREATE TABLE half (x INTEGER) STRICT');
        throw new Error('boom');
      },
    };
    expect(() => openDatabase(file, [...migrations, broken])).toThrow('boom');
    const db = openDatabase(file);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get()).toEqual({ n: 0 });
    db.close();
  });
});

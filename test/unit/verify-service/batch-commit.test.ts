import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../../src/core/db/database';
import { BatchCommit } from '../../../src/verify-service/batch-commit';

// The group commit's transaction half: work started in one event-loop turn shares one transaction,
// nobody's promise resolves before its COMMIT, a failed COMMIT rolls the whole batch back and fails
// every member, and a repository's own transaction nests inside as a savepoint.

describe('BatchCommit', () => {
  let dir: string;
  let db: Database;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'otac-batch-'));
    db = openDatabase(join(dir, 'x.db'), []);
    db.exec('CREATE TABLE marks (id INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0)) STRICT');
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = (id: number, v = 1) => db.prepare('INSERT INTO marks (id, v) VALUES (?, ?)').run(id, v);
  const count = () => (db.prepare('SELECT COUNT(*) AS n FROM marks').get() as { n: number }).n;

  it('32 works started together commit as one transaction, and each resolves only after the COMMIT', async () => {
    const batch = new BatchCommit(db);
    const seenInTransaction: boolean[] = [];
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        batch.run(async () => {
          // A repository's own transaction becomes a savepoint inside the batch.
          db.transaction(() => insert(i + 1))();
          seenInTransaction.push(db.inTransaction);
          return i;
        }),
      ).map((p) => p.then((i) => ({ i, open: db.inTransaction, rows: count() }))),
    );
    expect(seenInTransaction.every(Boolean)).toBe(true);
    expect(batch.batches).toBe(1);
    expect(batch.members).toBe(32);
    // Resolved after the COMMIT: no transaction open, every row there.
    expect(results.every((r) => !r.open && r.rows === 32)).toBe(true);
    expect(results.map((r) => r.i)).toEqual(Array.from({ length: 32 }, (_, i) => i));
  });

  it('work of a later turn goes into a new transaction', async () => {
    const batch = new BatchCommit(db);
    await batch.run(async () => insert(1));
    await batch.run(async () => insert(2));
    expect(batch.batches).toBe(2);
    expect(count()).toBe(2);
  });

  it('a failed COMMIT rolls the batch back and fails every member: nothing is kept', async () => {
    const batch = new BatchCommit(db);
    // A deferred foreign key breaks only at COMMIT.
    db.exec(`CREATE TABLE parents (id INTEGER PRIMARY KEY) STRICT;
             CREATE TABLE kids (id INTEGER PRIMARY KEY,
               parent INTEGER NOT NULL REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED) STRICT`);
    const runs = [
      batch.run(async () => insert(1)),
      batch.run(async () => db.prepare('INSERT INTO kids (id, parent) VALUES (1, 99)').run()),
    ];
    const settled = await Promise.allSettled(runs);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(db.inTransaction).toBe(false);
    expect(count()).toBe(0);
    // The next batch works normally.
    await batch.run(async () => insert(2));
    expect(count()).toBe(1);
  });

  it('a member that throws fails alone; the others of its batch commit', async () => {
    const batch = new BatchCommit(db);
    const settled = await Promise.allSettled([
      batch.run(async () => insert(1)),
      batch.run(async () => db.transaction(() => insert(2, -1))()), // CHECK fails: its savepoint rolls back
      batch.run(async () => insert(3)),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((db.prepare('SELECT id FROM marks ORDER BY id').all() as { id: number }[]).map((r) => r.id)).toEqual([1, 3]);
  });
});

import BetterSqlite3 from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { FOLD_READ_SQL, foldUses } from '../../../src/core/usage/usage-rollup';

// Migration 0019: uses per branch and day, folded from code_uses by rowid. The rollup must always
// equal the direct count over the use marks (by the customer's branch of now), whatever order the
// uses arrive in (a backdated one included), however the fold is chunked, when a customer moves to
// another branch, and when the move happens between a fold's read and its write.

type Db = BetterSqlite3.Database;

const direct = (db: Db) =>
  db
    .prepare(
      `SELECT cu.branch AS branch, substr(u.used_at, 1, 10) AS day, count(*) AS uses
         FROM code_uses u JOIN code_lists l ON l.id = u.list_ref JOIN cards c ON c.id = l.card_ref
         JOIN customers cu ON cu.id = c.customer_id
        GROUP BY 1, 2 ORDER BY 1, 2`,
    )
    .all();
const rolled = (db: Db) =>
  db.prepare('SELECT branch, day, uses FROM code_use_days WHERE uses <> 0 ORDER BY 1, 2').all();

function setup(): { db: Db; use: (list: number, index: number, day: string) => void } {
  const db = new BetterSqlite3(':memory:');
  migrate(db, migrations);
  for (const [id, branch] of [
    [1, 'Bern'],
    [2, 'Bern'],
    [3, 'Zurich'],
  ] as const) {
    db.prepare(
      `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
         created_at, created_by, updated_at) VALUES (?, ?, 'A', 'a', 'l1', '1', 'c', 'x', ?, 't', 'u', 't')`,
    ).run(id, `C${id}`, branch);
    db.prepare(
      `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
       VALUES (?, ?, ?, ?, 'active', 't', 'u', 't')`,
    ).run(id, `AA0${id}`, id, `N-${id}`);
    db.prepare(
      `INSERT INTO code_lists (id, card_ref, seq, list_id, length, digits, threshold, expires_at, state, queued_by_trigger,
         mk_version, sealed_for, body_hash, next_index, used_count, refill_due, created_at, created_by, state_changed_at)
       VALUES (?, ?, 1, ?, 100, 8, 5, '2030-01-01', 'active', 'first', 1, 'card-key', ?, 1, 0, 0, 't', 't', 't')`,
    ).run(id, id, String(id).padStart(32, '0'), 'cd'.repeat(32));
  }
  const use = (list: number, index: number, day: string) =>
    db
      .prepare('INSERT INTO code_uses (list_ref, code_index, used_at) VALUES (?, ?, ?)')
      .run(list, index, `${day}T10:00:00.000Z`);
  return { db, use };
}

describe('migration 0019: the daily use rollup', () => {
  let db: Db;
  let use: (list: number, index: number, day: string) => void;
  beforeEach(() => ({ db, use } = setup()));

  it('folds new use marks only, in any order of their days, in chunks or at once', () => {
    expect(foldUses(db)).toBe(0);
    use(1, 1, '2026-03-01');
    use(2, 1, '2026-03-01');
    use(3, 1, '2026-03-02');
    expect(foldUses(db)).toBe(3);
    expect(rolled(db)).toEqual(direct(db));
    expect(rolled(db)).toEqual([
      { branch: 'Bern', day: '2026-03-01', uses: 2 },
      { branch: 'Zurich', day: '2026-03-02', uses: 1 },
    ]);
    expect(foldUses(db)).toBe(0); // nothing new: nothing counted twice
    // A use mark whose time lies in a day already folded (a clock behind, a seeded history) still counts.
    use(1, 2, '2026-02-27');
    for (let i = 2; i <= 30; i++) use(3, i, `2026-03-${String((i % 28) + 1).padStart(2, '0')}`);
    expect(foldUses(db, 4)).toBe(30);
    expect(rolled(db)).toEqual(direct(db));
  });

  it('moves a customer’s folded uses with them to another branch, and folds later ones there', () => {
    use(1, 1, '2026-03-01');
    use(1, 2, '2026-03-02');
    use(2, 1, '2026-03-01');
    foldUses(db);
    use(1, 3, '2026-03-02'); // not folded yet when the customer moves
    db.prepare("UPDATE customers SET branch = 'Zurich' WHERE id = 1").run();
    db.prepare("UPDATE customers SET city = 'elsewhere' WHERE id = 2").run(); // no move: nothing changes
    foldUses(db);
    expect(rolled(db)).toEqual(direct(db));
    expect(rolled(db)).toContainEqual({ branch: 'Zurich', day: '2026-03-02', uses: 2 });
    expect(rolled(db)).toContainEqual({ branch: 'Bern', day: '2026-03-01', uses: 1 });
  });

  it('throws away a fold whose rows were read before a customer moved (no use under the old branch)', () => {
    use(1, 1, '2026-03-01');
    use(3, 1, '2026-03-01');
    let moved = false;
    // The attack: the move lands between the fold's read (outside the write lock) and its write.
    const racing = new Proxy(db, {
      get(target, prop) {
        if (prop === 'prepare')
          return (sql: string) => {
            const stmt = target.prepare(sql);
            if (sql !== FOLD_READ_SQL || moved) return stmt;
            return {
              all: (...params: unknown[]) => {
                const rows = stmt.all(...params);
                moved = true;
                target.prepare("UPDATE customers SET branch = 'Geneva' WHERE id = 1").run();
                return rows;
              },
            };
          };
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    expect(foldUses(racing)).toBe(2);
    expect(moved).toBe(true);
    expect(rolled(db)).toEqual(direct(db));
    expect(rolled(db)).toContainEqual({ branch: 'Geneva', day: '2026-03-01', uses: 1 });
    expect(rolled(db)).not.toContainEqual(expect.objectContaining({ branch: 'Bern' }));
  });

  it('refuses a malformed day', () => {
    expect(() =>
      db.prepare("INSERT INTO code_use_days (branch, day, uses) VALUES ('Bern', '2026-3-1', 1)").run(),
    ).toThrow(/CHECK/);
  });
});

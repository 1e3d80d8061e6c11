import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { SqliteMailerPrintLogRepository } from '../../../src/core/mailer/mailer-print-log.repository';

// The print log's rules live in the schema: one live mailer per key series of a card, one initial
// mailer per card, a reason on every reprint; a failed print (nothing reached paper) does not count.

describe('migration 0009: mailer print log', () => {
  const db = new BetterSqlite3(':memory:');
  migrate(db, migrations);
  db.prepare(
    `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
       created_at, created_by, updated_at) VALUES (1, 'C1', 'A', 'a', 'l1', '1', 'c', 'x', 'b', 't', 'u', 't')`,
  ).run();
  db.prepare(
    `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
     VALUES (1, 'AA01', 1, 'N-1', 'awaiting_activation', 't', 'u', 't')`,
  ).run();
  const repo = new SqliteMailerPrintLogRepository(db);
  const print = (keySn: number, kind: 'initial' | 'reprint', reason: string | null = null) =>
    repo.reserve({ cardRef: 1, n: 'N-1', keySn, kind, reason, operator: 'm', approver: 'a', batch: null, at: 't' });

  it('gives serials in one sequence and refuses a second live initial mailer', async () => {
    const first = await print(1, 'initial');
    expect(first?.serial).toBe('M-000001');
    expect(await print(1, 'initial')).toBeNull();
    expect(await print(2, 'initial')).toBeNull(); // one initial per card, whatever the series
  });

  it('lets a failed print be tried again, but not an uncertain one', async () => {
    db.exec('DELETE FROM mailer_prints');
    const a = await print(1, 'initial');
    await repo.finish(a!.id, 'failed', 't2', 'MAILER_RENDER_FAILED');
    const b = await print(1, 'initial');
    expect(b).not.toBeNull();
    await repo.finish(b!.id, 'uncertain', 't3', 'MAILER_PRINTER_FAILED');
    expect(await print(1, 'initial')).toBeNull();
    expect(await repo.finish(b!.id, 'printed', 't4', null)).toBeNull(); // only a pending print finishes
  });

  it('refuses a reprint without a reason and a second live mailer for one series', async () => {
    expect(() =>
      db
        .prepare(
          `INSERT INTO mailer_prints (card_ref, n, key_sn, kind, operator, started_at, result)
       VALUES (1, 'N-1', 2, 'reprint', 'm', 't', 'pending')`,
        )
        .run(),
    ).toThrow(/CHECK/);
    expect(await print(2, 'reprint', 'lost in the post')).not.toBeNull();
    expect(await print(2, 'reprint', 'lost again')).toBeNull();
    expect(await print(3, 'reprint', 'lost again')).not.toBeNull();
  });

  it('has no column that could hold K', () => {
    const columns = (db.prepare('PRAGMA table_info(mailer_prints)').all() as { name: string }[]).map((c) => c.name);
    expect(columns).not.toContain('key');
    expect(columns.filter((c) => /key/.test(c))).toEqual(['key_sn']);
  });
});

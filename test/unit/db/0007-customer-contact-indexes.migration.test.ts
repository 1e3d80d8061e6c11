import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';

describe('migration 0007: indexes for the duplicate warning and the customer history', () => {
  it('keeps existing customers and lets the planner use the new indexes', () => {
    const db = new BetterSqlite3(':memory:');
    migrate(
      db,
      migrations.filter((m) => m.version < 7),
    );
    db.prepare(
      `INSERT INTO customers (customer_ref, full_name, name_key, birth_date, address_line1, postal_code, city, country,
         email, mobile, branch, created_at, created_by, updated_at)
       VALUES ('C-1', 'Ada', 'ada', '1985-12-10', 'x', '1', 'London', 'GB', 'Ada@Example.org', '+447700900001', 'b', 't', 'c', 't')`,
    ).run();
    migrate(db, migrations);
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
    expect(plan("SELECT id FROM customers WHERE lower(email) = 'ada@example.org'")).toContain('customers_by_email');
    expect(plan("SELECT id FROM customers WHERE mobile = '+447700900001'")).toContain('customers_by_mobile');
    expect(plan("SELECT seq FROM audit_log WHERE object IN ('customer:1', 'card:01')")).toContain(
      'audit_log_by_object',
    );
    expect(db.prepare("SELECT id FROM customers WHERE lower(email) = 'ada@example.org'").all()).toEqual([{ id: 1 }]);
  });
});

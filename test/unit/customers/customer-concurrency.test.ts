import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteCustomerRepository } from '../../../src/core/customers/customer.repository';
import { openDatabase, type Database } from '../../../src/core/db/database';
import type { Result } from '../../../src/shared/contract';
import { ADA } from '../../support/customers';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';

// Two operators edit the same customer from the same version at once: exactly one edit is saved,
// the other is refused as stale, and nothing of the refused edit reaches the record.

describe('concurrent edits of one customer', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let clerk: TestOperator;
  let support: TestOperator;
  beforeEach(async () => {
    t = freshSqliteWorkstation();
    await setupOfficer(t.ws);
    clerk = await addOperator(t.ws, 'clerk');
    support = await addOperator(t.ws, 'support');
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('through the router: one of two simultaneous updates of version 1 wins, the other changes nothing', async () => {
    for (let round = 0; round < 10; round++) {
      const made = value(
        await t.ws.router.dispatch(clerk.client, 'customers:create', {
          customer: { ...ADA, customerRef: `C-${round}`, email: null, mobile: null },
          confirmDuplicates: true,
        }),
      ) as { customer: { id: number } };
      const id = made.customer.id;
      const edits = [
        { op: clerk, customer: { ...ADA, customerRef: `C-${round}`, email: 'clerk@example.org', mobile: null } },
        {
          op: support,
          customer: { ...ADA, customerRef: `C-${round}`, email: null, mobile: '+44 7700 900555', branch: 'Bath' },
        },
      ];
      const results = (await Promise.all(
        edits.map((e) =>
          t.ws.router.dispatch(e.op.client, 'customers:update', {
            id,
            version: 1,
            customer: e.customer,
            confirmDuplicates: true,
          }),
        ),
      )) as Result<{ customer: { email: string | null; mobile: string | null; branch: string; version: number } }>[];
      const won = results.filter((r) => r.ok);
      const lost = results.filter((r) => !r.ok);
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r.ok ? null : r.error.code))).toEqual(['CUSTOMER_STALE']);
      const row = t.ws.db.prepare('SELECT email, mobile, branch, version FROM customers WHERE id = ?').get(id);
      const winner = won[0]!.ok ? won[0]!.value.customer : null;
      expect(row).toEqual({
        email: winner?.email ?? null,
        mobile: winner?.mobile ?? null,
        branch: winner?.branch,
        version: 2,
      });
      // Neither the winner's values mixed with the loser's, nor a second version bump.
      expect([
        { email: 'clerk@example.org', mobile: null, branch: 'London Central', version: 2 },
        { email: null, mobile: '+447700900555', branch: 'Bath', version: 2 },
      ]).toContainEqual(row);
      const entries = (await auditRows(t.ws)).filter(
        (r) => r.object === `customer:${id}` && r.action === 'customer.update',
      );
      expect(entries.map((e) => e.outcome).sort()).toEqual(['denied', 'ok']);
    }
  });

  it('across two database connections (two desks on one file): the compare-and-set lets one writer win', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otac-customers-cas-'));
    const file = join(dir, 'workstation.db');
    const dbs: Database[] = [openDatabase(file), openDatabase(file)];
    try {
      const [a, b] = dbs.map((db) => new SqliteCustomerRepository(db)) as [
        SqliteCustomerRepository,
        SqliteCustomerRepository,
      ];
      const rec = {
        customerRef: 'C-1',
        fullName: 'Ada Lovelace',
        birthDate: '1985-12-10',
        address: { line1: 'x', line2: null, postalCode: '1', city: 'London', country: 'GB' },
        email: null,
        mobile: null,
        branch: 'London',
      };
      const c = await a.insert(rec, { operator: 'a', at: '2026-12-02T10:00:00.000Z' });
      const [ra, rb] = await Promise.all([
        a.update(c.id, 1, { ...rec, branch: 'Desk A' }, { operator: 'a', at: '2026-12-02T10:01:00.000Z' }),
        b.update(c.id, 1, { ...rec, branch: 'Desk B' }, { operator: 'b', at: '2026-12-02T10:01:00.000Z' }),
      ]);
      expect([ra, rb].filter((r) => r !== null)).toHaveLength(1);
      const winner = (ra ?? rb)!;
      expect(await b.get(c.id)).toEqual(winner);
      expect(winner.version).toBe(2);
    } finally {
      for (const db of dbs) db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import type { AuditRow } from '../../../src/core/audit/audit.service';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { pgRepositories, type IssuerRepositories } from '../../../src/core/db/repositories';
import type { NewCustomer } from '../../../src/core/customers/customer.repository';
import { VerifyClientService } from '../../../src/core/verification/verify-client.service';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// IssuerRepositories.atomically on PostgreSQL (issue 12: no change without its audit entry): the
// change and its entry commit together or not at all, the live feed hears an entry once and only
// after COMMIT (a serialisation failure runs the work again), and a unit opened inside another joins it.

const actor = { operatorId: null, operator: 'mia', role: null } as const;
const by = { operator: 'mia', at: '2026-12-03T10:00:00.000Z' };
let serial = 0;
const customer = (): NewCustomer => ({
  customerRef: `UOW-${++serial}`,
  fullName: `Unit Of Work ${serial}`,
  birthDate: null,
  address: { line1: '1 Main St', line2: null, postalCode: '1000', city: 'Town', country: 'GB' },
  email: null,
  mobile: null,
  branch: 'HQ',
});

describe('units of work on PostgreSQL', () => {
  let server: TestPostgres;
  let db: PgDatabase;
  let repos: IssuerRepositories;
  let log: PgAuditLog;
  let trail: PgAuditTrail;
  const heard: AuditRow[] = [];
  const count = async (sql: string, params: unknown[]) => Number((await db.query<{ n: number }>(sql, params))[0]?.n);
  const customersWithRef = (ref: string) => count('SELECT COUNT(*) AS n FROM customers WHERE customer_ref = ?', [ref]);
  const entries = (action: string) => count('SELECT COUNT(*) AS n FROM audit_log WHERE action = ?', [action]);

  beforeAll(async () => {
    server = await startPostgres();
    db = new PgDatabase({ url: server.url(await server.createDatabase()) });
    await migratePg(db);
    log = new PgAuditLog(db);
    trail = new PgAuditTrail(log);
    trail.onAppend((row) => heard.push(row));
    repos = pgRepositories(db, trail);
  });
  afterAll(async () => {
    await db?.close();
    server?.stop();
  });

  it('a change and its entry commit together; the feed hears the entry after COMMIT', async () => {
    heard.length = 0;
    const c = customer();
    const saved = await repos.atomically(async (tx) => {
      const row = await tx.repos.customers.insert(c, by);
      await tx.audit.append({ ...actor, action: 'test.uow_ok', object: `customer:${row.id}`, outcome: 'ok' });
      expect(heard).toEqual([]); // not before COMMIT
      return row;
    });
    expect(await customersWithRef(c.customerRef!)).toBe(1);
    expect(heard.map((r) => [r.action, r.object])).toEqual([['test.uow_ok', `customer:${saved.id}`]]);
  });

  it('work that fails after its change and entry leaves neither, and the feed hears nothing', async () => {
    heard.length = 0;
    const c = customer();
    await expect(
      repos.atomically(async (tx) => {
        await tx.repos.customers.insert(c, by);
        await tx.audit.append({ ...actor, action: 'test.uow_failed', outcome: 'ok' });
        throw new Error('the step after failed');
      }),
    ).rejects.toThrow(/step after failed/);
    expect(await customersWithRef(c.customerRef!)).toBe(0);
    expect(await entries('test.uow_failed')).toBe(0);
    expect(heard).toEqual([]);
  });

  it('work run again after a serialisation failure commits once and is announced once', async () => {
    heard.length = 0;
    const c = customer();
    let attempts = 0;
    await repos.atomically(async (tx) => {
      attempts++;
      await tx.repos.customers.insert(c, by);
      await tx.audit.append({ ...actor, action: 'test.uow_retried', outcome: 'ok', details: { attempts } });
      // What PostgreSQL reports when a concurrent transaction got in the way: the whole unit runs again.
      if (attempts === 1) throw Object.assign(new Error('could not serialize access'), { code: '40001' });
    });
    expect(attempts).toBe(2);
    expect(await customersWithRef(c.customerRef!)).toBe(1);
    expect(await entries('test.uow_retried')).toBe(1);
    expect(heard.map((r) => [r.action, r.details])).toEqual([['test.uow_retried', JSON.stringify({ attempts: 2 })]]);
  });

  it('a unit opened inside another (a service step that is a unit of its own) joins it and rolls back with it', async () => {
    heard.length = 0;
    const inner = customer();
    const outer = customer();
    await expect(
      repos.atomically(async (tx) => {
        await repos.atomically(async (tx2) => {
          await tx2.repos.customers.insert(inner, by);
          await tx2.audit.append({ ...actor, action: 'test.uow_inner', outcome: 'ok' });
        });
        await tx.repos.customers.insert(outer, by);
        throw new Error('the caller failed after the inner unit');
      }),
    ).rejects.toThrow(/caller failed/);
    expect(await customersWithRef(inner.customerRef!)).toBe(0);
    expect(await customersWithRef(outer.customerRef!)).toBe(0);
    expect(await entries('test.uow_inner')).toBe(0);
    expect(heard).toEqual([]);
  });

  it('an error a repository catches inside a unit (a key taken: 23505) undoes only its own statement', async () => {
    const holder = await repos.customers.insert(customer(), by);
    const card = await repos.cards.insert(
      { cardId: `C0FFEE${serial}`, customerId: holder.id, n: `UOWN${serial}`, sealMode: 'card-key' },
      by,
    );
    const print = {
      cardRef: card.id,
      n: card.n,
      keySn: 1,
      kind: 'initial',
      reason: null,
      operator: 'mia',
      approver: null,
      batch: null,
      at: by.at,
    } as const;
    const other = customer();
    const outcome = await repos.atomically(async (tx) => {
      const first = await tx.repos.mailerPrints.reserve(print);
      // The second reservation breaks a unique index: the repository catches it and answers null.
      // Without a savepoint PostgreSQL would refuse every later statement of the unit (25P02).
      const second = await tx.repos.mailerPrints.reserve(print);
      await tx.repos.customers.insert(other, by);
      await tx.audit.append({ ...actor, action: 'test.uow_after_refusal', outcome: 'ok' });
      return { first: first !== null, second };
    });
    expect(outcome).toEqual({ first: true, second: null });
    expect(await customersWithRef(other.customerRef!)).toBe(1);
    expect(await entries('test.uow_after_refusal')).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM mailer_prints WHERE card_ref = ?', [card.id])).toBe(1);
  });

  it('a verification client whose entry is refused is not created, and one revoked keeps its key when the entry is refused', async () => {
    const clients = new VerifyClientService(repos.verifyClients, trail, undefined, { atomically: repos.atomically });
    await db.query(`CREATE OR REPLACE FUNCTION uow_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'entry refused'; END $$`);
    const before = await count('SELECT COUNT(*) AS n FROM verify_clients', []);
    await db.query(`CREATE TRIGGER uow_refuse BEFORE INSERT ON audit_log FOR EACH ROW
      WHEN (NEW.action = 'verify_client.created') EXECUTE FUNCTION uow_refuse()`);
    try {
      await expect(clients.create({ name: 'online-banking', scopes: ['verify'], by: 'mia' })).rejects.toThrow();
    } finally {
      await db.query('DROP TRIGGER uow_refuse ON audit_log');
    }
    expect(await count('SELECT COUNT(*) AS n FROM verify_clients', [])).toBe(before);
    const { client, apiKey } = await clients.create({ name: 'online-banking', scopes: ['verify'], by: 'mia' });
    await db.query(`CREATE TRIGGER uow_refuse BEFORE INSERT ON audit_log FOR EACH ROW
      WHEN (NEW.action = 'verify_client.revoked') EXECUTE FUNCTION uow_refuse()`);
    try {
      await expect(clients.revoke(client.keyId, 'mia')).rejects.toThrow();
    } finally {
      await db.query('DROP TRIGGER uow_refuse ON audit_log');
    }
    expect(await clients.authenticate(apiKey)).toMatchObject({ keyId: client.keyId });
  });

  it('the chain still verifies after every unit above', async () => {
    const rows = await log.entries();
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
  });
});

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditLog } from '../../../src/core/audit/audit-log.pg';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { PgCardRepository } from '../../../src/core/cards/card.repository.pg';
import { PgCustomerRepository } from '../../../src/core/customers/customer.repository.pg';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { applyRoles, createLoginRole } from '../../../src/core/db/pg/roles';
import { PgListRepository } from '../../../src/core/lists/list.repository.pg';
import { postgresBinDir, startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 4: backup and restore of the shared issuer database with PostgreSQL's own tools,
// exactly the commands docs/storage.md "Backup and restore" gives: `pg_dump -Fc` (one consistent
// snapshot, taken here while three writers keep appending) → `pg_restore --no-owner
// --single-transaction --exit-on-error` into a fresh database → `migratePg` accepts it as the
// issuer's own schema, the audit chain verifies, every table holds what the snapshot held, the
// roles' grants came along, and new rows continue after the restored ones.

const execFileAsync = promisify(execFile);
const at = '2026-12-03T10:00:00.000Z';
const by = { operator: 'mia', at };
const actor = { operatorId: null, operator: 'mia', role: null } as const;

let server: TestPostgres;
let work: string;
const pools: PgDatabase[] = [];

const bin = (tool: string) => join(postgresBinDir(), tool);
function pool(url: string): PgDatabase {
  const db = new PgDatabase({ url, maxConnections: 8 });
  pools.push(db);
  return db;
}

/** Every table's rows as text, in a stable order, read as the superuser. */
async function contents(database: string): Promise<Record<string, string[]>> {
  const tables = await server.admin<{ t: string }>(
    database,
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const out: Record<string, string[]> = {};
  for (const { t } of tables)
    out[t] = (await server.admin<{ r: string }>(database, `SELECT x::text AS r FROM ${t} x ORDER BY 1`)).map(
      (r) => r.r,
    );
  return out;
}

beforeAll(async () => {
  server = await startPostgres();
  work = mkdtempSync(join(tmpdir(), 'otac-backup-'));
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('backup and restore with pg_dump and pg_restore', () => {
  it('a dump taken while desks write restores into a fresh database that migrates, verifies and holds the same data', async () => {
    const source = await server.createDatabase('live');
    const owner = pool(server.url(source));
    await migratePg(owner);
    await applyRoles(owner);
    await createLoginRole(owner, 'verify_backup', 'otac_verify', 'verify-backup-password-0123');

    // Data a branch network makes: customers, cards, an active list with used codes, audit entries.
    const customers = new PgCustomerRepository(owner);
    const cards = new PgCardRepository(owner);
    const lists = new PgListRepository(owner);
    const log = new PgAuditLog(owner);
    for (let i = 1; i <= 5; i++) {
      const c = await customers.insert(
        {
          customerRef: `C-${i}`,
          fullName: `Customer ${i}`,
          birthDate: null,
          address: { line1: `${i} Way`, line2: null, postalCode: '1', city: 'Bern', country: 'CH' },
          email: `c${i}@example.org`,
          mobile: null,
          branch: `Branch 0${i % 2}`,
        },
        by,
      );
      const card = await cards.insert(
        { cardId: `0102C${i}`, customerId: c.id, n: `N-B-${i}`, sealMode: 'card-key' },
        by,
      );
      const { list } = await lists.queue(
        {
          cardRef: card.id,
          listId: `${i}`.padStart(32, 'e'),
          length: 20,
          digits: 6,
          threshold: 2,
          expiresAt: '2027-12-03T00:00:00.000Z',
          trigger: 'first',
        },
        by,
      );
      await lists.recordSealing(list.id, { mkVersion: 1, sealedFor: `card:${card.id}`, bodyHash: 'cd'.repeat(32) }, at);
      for (const to of ['staged', 'committed', 'receipt_verified'] as const)
        await lists.transition(list.id, [list.state, 'prepared', 'staged', 'committed'], to, at);
      await lists.activate(list.id, at);
      for (let k = 1; k <= i; k++) await lists.markUse(list.id, k, 10, at);
      await log.append({ ...actor, action: 'test.enrolled', object: `card:${card.id}`, outcome: 'ok' });
    }

    // pg_dump while three more pools (desks, verification instances) keep appending to the chain:
    // the dump is one snapshot, so whatever it caught is a whole chain up to its head.
    const writers = [0, 1, 2].map(() => new PgAuditLog(pool(server.url(source))));
    let writing = true;
    const appends = writers.map(async (w, i) => {
      let n = 0;
      while (writing) await w.append({ ...actor, action: 'test.during_dump', object: `w${i}:${++n}`, outcome: 'ok' });
      return n;
    });
    const file = join(work, 'otac.dump');
    await new Promise((r) => setTimeout(r, 150));
    await execFileAsync(bin('pg_dump'), ['-Fc', '-f', file, '-d', server.url(source)]);
    writing = false;
    const written = await Promise.all(appends);
    expect(written.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(statSync(file).size).toBeGreaterThan(1000);

    // Restore into a fresh, empty database on the same cluster.
    const restored = await server.createDatabase('restored');
    execFileSync(
      bin('pg_restore'),
      ['--no-owner', '--single-transaction', '--exit-on-error', '-d', server.url(restored), file],
      {
        stdio: 'pipe',
      },
    );
    const back = pool(server.url(restored));
    // The schema check accepts it as the issuer's own, up to date (no DB_FOREIGN, no mismatch).
    await expect(migratePg(back)).resolves.toBeUndefined();

    // The chain verifies, and the head the writers lock names its last entry.
    const entries = await new PgAuditLog(back).entries();
    expect(entries.length).toBeGreaterThan(5);
    expect(verifyAuditChain(arrayChainSource(entries, []), null)).toMatchObject({ ok: true, entries: entries.length });
    const [head] = await back.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head');
    expect(head).toEqual({ seq: entries.at(-1)!.seq, hash: entries.at(-1)!.hash });

    // Data equal: every table of the restored database equals the source as of the snapshot; the
    // source has since only gained audit entries (the writers went on after the snapshot).
    const after = await contents(source);
    const copy = await contents(restored);
    expect(Object.keys(copy)).toEqual(Object.keys(after));
    for (const t of Object.keys(after)) {
      if (t === 'audit_log' || t === 'audit_head') continue;
      expect({ t, rows: copy[t] }).toEqual({ t, rows: after[t] });
    }
    const sourceEntries = await new PgAuditLog(owner).entries();
    expect(sourceEntries.length).toBeGreaterThanOrEqual(entries.length);
    expect(sourceEntries.slice(0, entries.length)).toEqual(entries);
    expect(copy['code_uses']).toHaveLength(15);

    // The grants came along: the verification login works on the copy as on the original, within its rights.
    const verify = pool(`postgres://verify_backup:x@127.0.0.1:${server.port}/${restored}`);
    expect((await new PgCardRepository(verify).byN('N-B-3'))?.cardId).toBe('0102C3');
    await expect(verify.query('SELECT password_hash FROM operators')).rejects.toMatchObject({ code: '42501' });

    // Life goes on after the restore: new rows take new ids, the chain continues and still verifies.
    const next = await new PgCustomerRepository(back).insert(
      {
        customerRef: 'C-after',
        fullName: 'After Restore',
        birthDate: null,
        address: { line1: '9 Way', line2: null, postalCode: '9', city: 'Bern', country: 'CH' },
        email: null,
        mobile: null,
        branch: 'Branch 01',
      },
      by,
    );
    expect(next.id).toBe(6);
    await new PgAuditLog(back).append({ ...actor, action: 'test.after_restore', outcome: 'ok' });
    const continued = await new PgAuditLog(back).entries();
    expect(verifyAuditChain(arrayChainSource(continued, []), null)).toMatchObject({ ok: true });
  });

  it('the check can fail: a dump restored with an entry altered no longer verifies', async () => {
    const source = await server.createDatabase('alt');
    const owner = pool(server.url(source));
    await migratePg(owner);
    const log = new PgAuditLog(owner);
    for (let i = 0; i < 5; i++) await log.append({ ...actor, action: 'test.entry', object: `n:${i}`, outcome: 'ok' });
    const file = join(work, 'alt.dump');
    execFileSync(bin('pg_dump'), ['-Fc', '-f', file, '-d', server.url(source)]);
    const restored = await server.createDatabase('alt_restored');
    execFileSync(
      bin('pg_restore'),
      ['--no-owner', '--single-transaction', '--exit-on-error', '-d', server.url(restored), file],
      {
        stdio: 'pipe',
      },
    );
    // Someone with the owner's rights edits the copy behind the triggers' back.
    await server.admin(
      restored,
      `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
       UPDATE audit_log SET object = 'n:forged' WHERE seq = 3;
       ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;`,
    );
    const entries = await new PgAuditLog(pool(server.url(restored))).entries();
    expect(verifyAuditChain(arrayChainSource(entries, []), null)).toMatchObject({
      ok: false,
      firstProblem: { seq: 3 },
    });
  });

  it('pg_restore into a database that is not empty stops on the first conflict and changes nothing there', async () => {
    const source = await server.createDatabase('src2');
    await migratePg(pool(server.url(source)));
    const file = join(work, 'src2.dump');
    execFileSync(bin('pg_dump'), ['-Fc', '-f', file, '-d', server.url(source)]);
    const busy = await server.createDatabase('busy');
    await server.admin(busy, 'CREATE TABLE customers (id bigint PRIMARY KEY, note text)');
    await server.admin(busy, "INSERT INTO customers VALUES (1, 'someone else''s')");
    expect(() =>
      execFileSync(
        bin('pg_restore'),
        ['--no-owner', '--single-transaction', '--exit-on-error', '-d', server.url(busy), file],
        {
          stdio: 'pipe',
        },
      ),
    ).toThrow();
    const tables = await server.admin<{ t: string }>(
      busy,
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    expect(tables.map((r) => r.t)).toEqual(['customers']);
    expect(await server.admin(busy, 'SELECT * FROM customers')).toEqual([{ id: '1', note: "someone else's" }]);
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditLog } from '../../../src/core/audit/audit-log.pg';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { applyRoles, createLoginRole } from '../../../src/core/db/pg/roles';
import { openWorkstation } from '../../../src/core/workstation';
import { ADA } from '../../support/customers';
import { branchDesks } from '../../support/branch-desks';
import { addOperator, setupOfficer, value, type TestOperator } from '../../support/operators';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12: two desks of a branch network on one PostgreSQL, each a whole workstation
// (openWorkstation with the database set) on its own data directory. What one desk does, the other
// sees at its next call: a customer enrolled at one is found at the other, an operator disabled at
// one is refused at the other, and the audit entries of both form one chain.

describe('two workstations on one PostgreSQL', () => {
  let server: TestPostgres;
  let url: string;
  const network = branchDesks('otac-branch-');
  const { desks, dirs } = network;
  let officer: TestOperator;

  const openDesk = (databaseUrl: string) => network.open(databaseUrl);
  const open = () => openDesk(url);

  beforeAll(async () => {
    server = await startPostgres();
    url = server.url(await server.createDatabase('branch'));
    await open();
    await open();
    officer = await setupOfficer(desks[0]!);
  }, 60_000);
  afterAll(async () => {
    await network.closeAll();
    server?.stop();
  });

  it('both desks run on PostgreSQL; the first officer made at one desk cannot be made again at the other', async () => {
    expect(desks.map((d) => d.engine)).toEqual(['postgres', 'postgres']);
    const again = await desks[1]!.router.dispatch('other-officer', 'auth:setupFirstOfficer', {
      username: 'mallory',
      displayName: 'Mallory',
      password: 'another long password',
    });
    expect(again.ok).toBe(false);
    const [row] = await server.admin<{ n: string }>(url.split('/').pop()!, 'SELECT count(*) AS n FROM operators');
    expect(Number(row?.n)).toBe(1);
  });

  it('a customer created at desk A is found at desk B', async () => {
    const clerkA = await addOperator(desks[0]!, 'clerk', 'clerka');
    const made = value(await desks[0]!.router.dispatch(clerkA.client, 'customers:create', { customer: ADA })) as {
      customer: { id: number };
    };
    // The clerk signs in at desk B with the password set at desk A.
    value(
      await desks[1]!.router.dispatch('b-clerka', 'auth:signIn', { username: 'clerka', password: clerkA.password }),
    );
    const found = value(await desks[1]!.router.dispatch('b-clerka', 'customers:search', { query: 'Lovelace' })) as {
      total: number;
      customers: { id: number }[];
    };
    expect(found.total).toBe(1);
    expect(found.customers[0]?.id).toBe(made.customer.id);
  });

  it('an operator disabled at desk A is refused at desk B at their next call, with nothing done', async () => {
    const clerk = await addOperator(desks[0]!, 'clerk', 'clerkb');
    value(await desks[1]!.router.dispatch('b-clerkb', 'auth:signIn', { username: 'clerkb', password: clerk.password }));
    const before = value(await desks[1]!.router.dispatch('b-clerkb', 'customers:search', {})) as { total: number };
    value(await desks[0]!.router.dispatch(officer.client, 'admin:disableOperator', { operatorId: clerk.id }));
    const refused = await desks[1]!.router.dispatch('b-clerkb', 'customers:create', {
      customer: { ...ADA, customerRef: 'AFTER-DISABLE' },
    });
    expect(refused).toMatchObject({ ok: false, error: { code: 'AUTH_REQUIRED' } });
    const after = value(await desks[1]!.router.dispatch('b-clerka', 'customers:search', {})) as { total: number };
    expect(after.total).toBe(before.total);
    const again = await desks[1]!.router.dispatch('b-clerkb2', 'auth:signIn', {
      username: 'clerkb',
      password: clerk.password,
    });
    expect(again.ok).toBe(false);
  });

  it('both desks append to one audit chain, which verifies, also through the desk’s own check', async () => {
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        desks[i % 2]!.router.dispatch('b-clerka', 'customers:search', { query: `x${i}` }),
      ),
    );
    const pool = new PgDatabase({ url });
    try {
      const rows = await new PgAuditLog(pool).entries();
      expect(rows.length).toBeGreaterThan(10);
      expect(rows.some((r) => r.action === 'admin.disableOperator' || r.action.startsWith('operator.'))).toBe(true);
      expect(verifyAuditChain(arrayChainSource(rows, []), null)).toMatchObject({ ok: true, entries: rows.length });
    } finally {
      await pool.close();
    }
    const auditor = await addOperator(desks[0]!, 'auditor', 'auditorb');
    value(
      await desks[1]!.router.dispatch('b-aud', 'auth:signIn', { username: 'auditorb', password: auditor.password }),
    );
    const checked = value(await desks[1]!.router.dispatch('b-aud', 'audit:verify', {})) as { ok: boolean };
    expect(checked.ok).toBe(true);
  });

  it('a desk whose server does not answer is refused at start with a clear message; nothing falls back to a local file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otac-branch-'));
    dirs.push(dataDir);
    await expect(
      openWorkstation({
        dataDir,
        shell: 'browser',
        version: 'test',
        database: { url: 'postgres://postgres@127.0.0.1:1/nowhere', connectTimeoutMs: 1000 },
      }),
    ).rejects.toMatchObject({ code: 'DB_UNREACHABLE' });
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dataDir, 'workstation.db'))).toBe(false);
    // The instance lock was released: the directory opens again.
    expect(existsSync(join(dataDir, 'workstation.lock'))).toBe(false);
  });

  it('a desk signed in with the workstation role opens a migrated database, and on one that needs migrations it says who must apply them, changing nothing', async () => {
    const owner = new PgDatabase({ url });
    try {
      await applyRoles(owner);
      await createLoginRole(owner, 'desk_login', 'otac_workstation', 'desk-password-0123456789');
    } finally {
      await owner.close();
    }
    const opened = await openDesk(url.replace('postgres@', 'desk_login@'));
    expect(opened.engine).toBe('postgres');
    // An empty database (as after a new version's migration the owner has not run yet: the desk's
    // login may not make tables).
    const empty = server.url(await server.createDatabase('behind'));
    const [db] = empty.split('/').slice(-1);
    await server.admin(db!, 'GRANT CONNECT ON DATABASE ' + db + ' TO desk_login');
    await server.admin(db!, 'REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await expect(openDesk(empty.replace('postgres@', 'desk_login@'))).rejects.toMatchObject({
      code: 'DB_SCHEMA_BEHIND',
      message: expect.stringMatching(/npm run db:roles/) as unknown,
    });
    const tables = await server.admin<{ n: number }>(
      db!,
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'",
    );
    expect(tables[0]?.n).toBe(0);
  });

  it('a server that goes away under a running desk: the next call is refused with what to do, nothing is left half done', async () => {
    const own = await startPostgres();
    let stopped = false;
    try {
      const ws = await openDesk(own.url(await own.createDatabase('gone')));
      await setupOfficer(ws);
      own.stop();
      stopped = true;
      const refused = await ws.router.dispatch(officer.client, 'admin:listOperators', {});
      expect(refused).toMatchObject({ ok: false, error: { code: 'DB_UNREACHABLE' } });
      expect(refused.ok ? '' : refused.error.message).toMatch(/Nothing was saved/);
    } finally {
      if (!stopped) own.stop();
    }
  });
});

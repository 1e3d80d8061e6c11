import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditLog } from '../../../src/core/audit/audit-log.pg';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import type { Result } from '../../../src/shared/contract/define';
import { ADA, GRACE } from '../../support/customers';
import { DeskProcess } from '../../support/desk-process';
import { OFFICER } from '../../support/fresh-workstation';
import { startPostgres, type TestPostgres } from '../../support/postgres';
import { pgIssuer, type PgIssuer } from '../../support/verify-service-pg';
import {
  call,
  deskWithKeystore,
  startServiceProcess,
  type Desk,
  type ServiceProcess,
} from '../../support/verify-service';

// Issue 12 "Done when": a branch network as separate processes on one PostgreSQL — two whole
// workstations (test/support/desk-process.ts: openWorkstation with OTAC_DATABASE_URL, each its own
// data directory, started at once so both migrate the empty database together) and three
// verification service instances. A customer enrolled at one desk is found at the other; 64
// parallel verifications of one code spread over the three instances are accepted exactly once; the
// audit chain verifies after desks and instances wrote at once; an operator disabled at one desk is
// refused at the other.

const ok = <T>(r: Result<T>): T => {
  if (!r.ok) throw new Error(`call refused: ${r.error.code}: ${r.error.message}`);
  return r.value;
};

describe('a branch network: two workstations and three verification instances as processes on one PostgreSQL', () => {
  let server: TestPostgres;
  let url: string;
  let keystoreDesk: Desk;
  let issuer: PgIssuer;
  let deskA: DeskProcess;
  let deskB: DeskProcess;
  const instances: ServiceProcess[] = [];
  let apiKey: string;
  const clerk = { username: 'branchclerk', password: 'settled-password-branchclerk' };

  beforeAll(async () => {
    server = await startPostgres();
    url = server.url(await server.createDatabase('network'));
    // Both desks start on the empty database at once: one makes the schema, the other waits and finds it.
    [deskA, deskB] = await Promise.all([DeskProcess.start(url), DeskProcess.start(url)]);
    keystoreDesk = await deskWithKeystore();
    issuer = await pgIssuer(keystoreDesk, url);
    apiKey = await issuer.clientKey('verify');
    instances.push(
      ...(await Promise.all(
        [0, 1, 2].map(() =>
          startServiceProcess(issuer.instanceDir(), { OTAC_DATABASE_URL: url, OTAC_VERIFY_RATE_PER_N: '1000/1000' }),
        ),
      )),
    );
    // The first officer at desk A; a clerk made by them, who settles their password at desk B.
    ok(await deskA.dispatch('a-officer', 'auth:setupFirstOfficer', OFFICER));
    const temporary = 'temporary-password-branchclerk';
    ok(
      await deskA.dispatch('a-officer', 'admin:createOperator', {
        username: clerk.username,
        displayName: 'Branch Clerk',
        role: 'clerk',
        temporaryPassword: temporary,
      }),
    );
    ok(await deskB.dispatch('b-clerk', 'auth:signIn', { username: clerk.username, password: temporary }));
    ok(
      await deskB.dispatch('b-clerk', 'auth:changePassword', {
        currentPassword: temporary,
        newPassword: clerk.password,
      }),
    );
    ok(await deskA.dispatch('a-clerk', 'auth:signIn', clerk));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(instances.map((p) => p.stop()));
    await Promise.all([deskA?.stop(), deskB?.stop()]);
    await issuer?.close();
    await keystoreDesk?.dispose();
    server?.stop();
  }, 60_000);

  it('the desks are separate processes, and so are the three instances', () => {
    const pids = new Set([process.pid, deskA.pid, deskB.pid, ...instances.map((i) => i.proc.pid)]);
    expect(pids.size).toBe(6);
  });

  it('a customer enrolled at desk A is found at desk B', async () => {
    const made = ok(await deskA.dispatch('a-clerk', 'customers:create', { customer: ADA })) as {
      customer: { id: number };
    };
    const found = ok(await deskB.dispatch('b-clerk', 'customers:search', { query: 'Lovelace' })) as {
      total: number;
      customers: { id: number }[];
    };
    expect(found.total).toBe(1);
    expect(found.customers[0]?.id).toBe(made.customer.id);
  });

  it('64 parallel verifications of one code over the three instances, while both desks write: accepted once; the audit chain verifies', async () => {
    const { card, codes, list } = await issuer.cardWithCodes();
    const deskWrites = [0, 1, 2, 3].map((i) =>
      (i % 2 ? deskB : deskA).dispatch(i % 2 ? 'b-clerk' : 'a-clerk', 'customers:create', {
        customer: { ...GRACE, customerRef: `NET-${i}`, email: `grace${i}@example.org` },
      }),
    );
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        call(instances[i % 3]!.url, '/v1/verify', { key: apiKey, body: { n: card.n, code: codes[0] } }),
      ),
    );
    for (const w of await Promise.all(deskWrites)) ok(w);
    expect(answers.map((a) => a.status)).toEqual(Array(64).fill(200));
    const results = answers.map((a) => (a.body as { result: string; reason?: string }).reason ?? 'accepted');
    expect(results.filter((r) => r === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r === 'already_used')).toHaveLength(63);
    const dbName = url.split('/').pop()!;
    const uses = await server.admin<{ n: number }>(
      dbName,
      'SELECT count(*)::int AS n FROM code_uses WHERE list_ref = $1',
      [list.id],
    );
    expect(uses[0]?.n).toBe(1);
    const pool = new PgDatabase({ url });
    try {
      const rows = await new PgAuditLog(pool).entries();
      const actions = new Set(rows.map((r) => r.action));
      expect(actions).toContain('customer.create');
      expect(actions).toContain('verification.refused');
      expect(verifyAuditChain(arrayChainSource(rows, []), null)).toMatchObject({ ok: true, entries: rows.length });
    } finally {
      await pool.close();
    }
  });

  it('an operator disabled at desk A is refused at desk B at their next call, and cannot sign in there again', async () => {
    const ops = ok(await deskA.dispatch('a-officer', 'admin:listOperators', {})) as {
      operators: { id: number; username: string }[];
    };
    const target = ops.operators.find((o) => o.username === clerk.username)!;
    const dbName = url.split('/').pop()!;
    const customers = async () =>
      (await server.admin<{ n: number }>(dbName, 'SELECT count(*)::int AS n FROM customers'))[0]?.n;
    const before = await customers();
    ok(await deskA.dispatch('a-officer', 'admin:disableOperator', { operatorId: target.id }));
    const refused = await deskB.dispatch('b-clerk', 'customers:create', {
      customer: { ...GRACE, customerRef: 'AFTER-DISABLE', email: 'late@example.org' },
    });
    expect(refused).toMatchObject({ ok: false, error: { code: 'AUTH_REQUIRED' } });
    expect(await deskB.dispatch('b-clerk-again', 'auth:signIn', clerk)).toMatchObject({ ok: false });
    expect(await customers()).toBe(before);
  });
});

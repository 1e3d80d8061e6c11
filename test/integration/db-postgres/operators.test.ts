import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminHandlers } from '../../../src/core/admin/admin.ipc';
import { AdminService } from '../../../src/core/admin/admin.service';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import { AuditService, type AuditRow, type AuditTrail } from '../../../src/core/audit/audit.service';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { authHandlers } from '../../../src/core/auth/auth.ipc';
import { AuthService } from '../../../src/core/auth/auth.service';
import { SqliteOperatorRepository, type OperatorRepository } from '../../../src/core/auth/operator.repository';
import { PgOperatorRepository } from '../../../src/core/auth/operator.repository.pg';
import { SessionStore } from '../../../src/core/auth/session.store';
import { openDatabase } from '../../../src/core/db/database';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { dualControlHandlers } from '../../../src/core/dual-control/dual-control.ipc';
import { DualControlService } from '../../../src/core/dual-control/dual-control.service';
import { createLogger } from '../../../src/core/log';
import { policyHandlers } from '../../../src/core/policy/policy.ipc';
import { SqlitePolicyVersionStore, type PolicyVersionStore } from '../../../src/core/policy/policy.repository';
import { PgPolicyVersionStore } from '../../../src/core/policy/policy.repository.pg';
import {
  DbPolicySource,
  PolicyService,
  StaticPolicySource,
  type PolicySource,
} from '../../../src/core/policy/policy.service';
import { Router, type RevokedReason } from '../../../src/core/rpc/router';
import { adminChannels } from '../../../src/shared/contract/admin.contract';
import { authChannels } from '../../../src/shared/contract/auth.contract';
import { dualControlChannels } from '../../../src/shared/contract/dual-control.contract';
import { policyChannels } from '../../../src/shared/contract/policy.contract';
import type { Result } from '../../../src/shared/contract';
import type { Role } from '../../../src/shared/roles';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 2, the people rules with two desks on ONE issuer database, on both engines side by
// side: "an operator disabled, locked or re-roled at one desk is refused at every desk on their next
// call; lockout counters and dual-control approvals hold across desks". Each desk is the platform's
// own stack (repositories, audit, sessions in memory, auth, dual control, admin, policies, router)
// over its own connection: two better-sqlite3 connections to one file, or two PostgreSQL pools. The
// attacks race the desks and check that exactly one side wins and nothing else changed.

const channels = { ...authChannels, ...adminChannels, ...policyChannels, ...dualControlChannels };
const LIMIT = 5; // DEFAULT_POLICIES.maxFailedSignIns

interface Desk {
  readonly router: Router<typeof channels>;
  readonly operators: OperatorRepository;
  /** Sessions this desk's router ended because the operator's row changed elsewhere. */
  readonly revoked: RevokedReason[];
}

interface Engine {
  readonly desks: readonly [Desk, Desk];
  audit(): Promise<AuditRow[]>;
  close(): Promise<void>;
}

function desk(parts: {
  operators: OperatorRepository;
  audit: AuditTrail;
  policies: PolicySource;
  versions: PolicyVersionStore;
  logDir: string;
}): Desk {
  const policies = parts.policies;
  const sessions = new SessionStore(() => 30 * 60_000);
  const auth = new AuthService(parts.operators, sessions, parts.audit, policies);
  const dualControl = new DualControlService(auth, parts.audit, policies);
  const admin = new AdminService(parts.operators, sessions, parts.audit, dualControl);
  const policyService = new PolicyService(parts.versions, dualControl);
  const revoked: RevokedReason[] = [];
  const router = new Router(
    channels,
    {
      ...authHandlers(auth, sessions),
      ...adminHandlers({ admin }),
      ...policyHandlers({ policies: policyService }),
      ...dualControlHandlers(dualControl),
    },
    {
      sessions,
      audit: parts.audit,
      log: createLogger(join(parts.logDir, `desk-${Math.random().toString(36).slice(2)}.log`)),
      onSessionExpired: () => undefined,
      operators: parts.operators,
      onSessionRevoked: (_client, _session, reason) => revoked.push(reason),
    },
  );
  return { router, operators: parts.operators, revoked };
}

let server: TestPostgres;
const logDir = mkdtempSync(join(tmpdir(), 'otac-operators-log-'));

const engines: Record<string, () => Promise<Engine>> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otac-operators-'));
    const file = join(dir, 'workstation.db');
    const dbs = [openDatabase(file), openDatabase(file)] as const;
    const desks = dbs.map((db) => {
      const audit = new AuditService(db);
      return desk({
        operators: new SqliteOperatorRepository(db, audit),
        audit,
        policies: new DbPolicySource(db),
        versions: new SqlitePolicyVersionStore(db, audit),
        logDir,
      });
    }) as unknown as [Desk, Desk];
    return {
      desks,
      audit: async () => dbs[0].prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[],
      close: async () => {
        for (const db of dbs) db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  postgres: async () => {
    const url = server.url(await server.createDatabase());
    const pools = [new PgDatabase({ url, maxConnections: 20 }), new PgDatabase({ url, maxConnections: 20 })] as const;
    await migratePg(pools[0]);
    const desks = pools.map((pool) => {
      const audit = new PgAuditTrail(new PgAuditLog(pool));
      return desk({
        operators: new PgOperatorRepository(pool, audit),
        audit,
        // The read side of policies on PostgreSQL is another change's (PgPolicySource); these rules
        // run on the defaults, which is what a fresh database holds.
        policies: new StaticPolicySource(),
        versions: new PgPolicyVersionStore(pool, audit),
        logDir,
      });
    }) as unknown as [Desk, Desk];
    return {
      desks,
      audit: () => new PgAuditLog(pools[0]).entries(),
      close: async () => {
        await Promise.all(pools.map((p) => p.close()));
      },
    };
  },
};

beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(() => {
  server?.stop();
  rmSync(logDir, { recursive: true, force: true });
});

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`call failed: ${r.error.code}: ${r.error.message}`);
  return r.value;
}

describe.each(Object.keys(engines))('operators, sign-in, dual control and policies on %s', (name) => {
  let e: Engine;
  let a: Desk;
  let b: Desk;
  let serial = 0;
  const OFFICER = { username: 'officer', displayName: 'First Officer', password: 'officer password 1' };
  /** The first officer's user name: whichever desk won the first run. */
  let officerName = OFFICER.username;
  /** Security officers made here, in order, with the passwords they chose. */
  const officers: { id: number; username: string; password: string }[] = [];

  beforeAll(async () => {
    e = await engines[name]!();
    [a, b] = e.desks;
  }, 60_000);
  afterAll(async () => {
    await e?.close();
  });

  const call = (d: Desk, client: string, channel: keyof typeof channels, input: unknown) =>
    d.router.dispatch(client, channel, input) as Promise<Result<Record<string, unknown>>>;
  const countOf = async (action: string, outcome?: string) =>
    (await e.audit()).filter((r) => r.action === action && (outcome === undefined || r.outcome === outcome)).length;
  const chainOk = async () => {
    const rows = await e.audit();
    expect(verifyAuditChain(arrayChainSource(rows, []), null)).toMatchObject({ ok: true, entries: rows.length });
  };

  /** An operator made by the officer at desk A, who then chose their own password at desk `at`. */
  async function operator(role: Role, at: Desk = a, approval?: () => Promise<unknown>) {
    const made = await makeOperator(role, at, approval);
    if (role === 'security_officer') officers.push(made);
    return made;
  }

  /** A fresh challenge at desk A (officer-a's session) approved by `approver`. */
  async function approvalBy(approver: { username: string; password: string }) {
    const { challenge } = value(await call(a, 'officer-a', 'approval:begin', { action: 'operator.privileged' })) as {
      challenge: string;
    };
    return { username: approver.username, password: approver.password, challenge };
  }

  async function makeOperator(role: Role, at: Desk, approval?: () => Promise<unknown>) {
    const username = `${role.replace('_', '')}${name}${++serial}`;
    const temporary = `temporary password ${username}`;
    const password = `own password ${username}`;
    const input = { username, displayName: `Test ${role}`, role, temporaryPassword: temporary };
    const made = value(
      await call(a, 'officer-a', 'admin:createOperator', approval ? { ...input, approval: await approval() } : input),
    );
    const client = `client-${username}`;
    value(await call(at, client, 'auth:signIn', { username, password: temporary }));
    value(await call(at, client, 'auth:changePassword', { currentPassword: temporary, newPassword: password }));
    return { id: made.id as number, username, password, client, at };
  }

  it('first run: two desks setting up at once make exactly one security officer', async () => {
    const results = await Promise.all([
      call(a, 'officer-a', 'auth:setupFirstOfficer', OFFICER),
      call(b, 'officer-b', 'auth:setupFirstOfficer', { ...OFFICER, username: 'other-officer' }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, error: { code: 'SETUP_DONE' } });
    expect(await a.operators.count()).toBe(1);
    expect(await countOf('auth.setupFirstOfficer')).toBe(1);
    // The rest of this file has the first officer signed in at desk A as 'officer-a'.
    officerName = results[0].ok ? OFFICER.username : 'other-officer';
    value(await call(a, 'officer-a', 'auth:signIn', { username: officerName, password: OFFICER.password }));
  });

  it('two desks creating the same user name at once (any case) make one operator and one entry', async () => {
    value(await call(b, 'officer-b', 'auth:signIn', { username: officerName, password: OFFICER.password }));
    const input = (username: string) => ({
      username,
      displayName: 'Same',
      role: 'clerk',
      temporaryPassword: 'temporary password same',
    });
    const results = await Promise.all([
      call(a, 'officer-a', 'admin:createOperator', input(`same-${name}`)),
      call(b, 'officer-b', 'admin:createOperator', input(`SAME-${name}`)),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, error: { code: 'OPERATOR_EXISTS' } });
    expect((await a.operators.all()).filter((o) => o.username.toLowerCase() === `same-${name}`)).toHaveLength(1);
    expect(await countOf('admin.createOperator', 'ok')).toBe(1);
  });

  it('wrong passwords raced over two desks lock the account exactly once, with the counter exact', async () => {
    const clerk = await operator('clerk');
    const attempts = 2 * LIMIT + 2;
    const results = await Promise.all(
      Array.from({ length: attempts }, (_, i) =>
        call(i % 2 ? b : a, `guesser-${i}`, 'auth:signIn', { username: clerk.username, password: `guess ${i}` }),
      ),
    );
    // One answer for every refusal at the sign-in screen.
    expect(results.every((r) => !r.ok && r.error.code === 'AUTH_FAILED')).toBe(true);
    const row = await b.operators.byId(clerk.id);
    expect(row).toMatchObject({ failed_attempts: LIMIT, lockout_count: 1 });
    expect(row?.locked_until).toBeGreaterThan(Date.now());
    expect(await countOf('auth.lockout')).toBe(1);
    const signIns = (await e.audit()).filter((r) => r.action === 'auth.signIn' && r.operator === clerk.username);
    const reasons = signIns.map((r) => (JSON.parse(r.details) as { reason?: string }).reason);
    expect(reasons.filter((r) => r === 'wrong-password')).toHaveLength(LIMIT);
    expect(reasons.filter((r) => r === 'locked')).toHaveLength(attempts - LIMIT);
    // The right password is refused too, and the clerk's session at desk A ended on its next call.
    expect(await call(b, 'late', 'auth:signIn', { username: clerk.username, password: clerk.password })).toMatchObject({
      ok: false,
      error: { code: 'AUTH_FAILED' },
    });
    expect(await call(a, clerk.client, 'policy:get', {})).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED', message: expect.stringContaining('locked') as unknown },
    });
    expect(a.revoked).toContain('locked');
    expect(await b.operators.byId(clerk.id)).toMatchObject({ failed_attempts: LIMIT, lockout_count: 1 });
    await chainOk();
  });

  it('an operator disabled at one desk is refused at the other on their next call', async () => {
    const clerk = await operator('clerk', b);
    expect(await call(b, clerk.client, 'policy:get', {})).toMatchObject({ ok: true });
    value(await call(a, 'officer-a', 'admin:disableOperator', { operatorId: clerk.id }));
    expect(await call(b, clerk.client, 'policy:get', {})).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED', message: expect.stringContaining('disabled') as unknown },
    });
    expect(b.revoked).toContain('disabled');
    // Ended, not just refused once: the next call finds no session at all.
    expect(await call(b, clerk.client, 'policy:get', {})).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED', message: 'Sign in first.' },
    });
    expect(await call(b, 'again', 'auth:signIn', { username: clerk.username, password: clerk.password })).toMatchObject(
      { ok: false, error: { code: 'AUTH_FAILED' } },
    );
    const ended = (await e.audit()).filter((r) => r.action === 'auth.sessionEnded' && r.operator === clerk.username);
    expect(ended.map((r) => JSON.parse(r.details) as unknown)).toEqual([{ reason: 'disabled' }]);
  });

  it('a change undone before the other desk’s next call still ends the session there (the session epoch)', async () => {
    const signedInAtB = async (clerk: { username: string; password: string }, client: string) => {
      value(await call(b, client, 'auth:signIn', { username: clerk.username, password: clerk.password }));
      expect(await call(b, client, 'policy:get', {})).toMatchObject({ ok: true });
    };
    const endedAtB = async (client: string) =>
      expect(await call(b, client, 'policy:get', {})).toMatchObject({
        ok: false,
        error: { code: 'AUTH_REQUIRED', message: expect.stringContaining('since you signed in') as unknown },
      });
    // Disabled, then enabled again, at desk A.
    const cycled = await operator('clerk', b);
    await signedInAtB(cycled, 'cycle-1');
    value(await call(a, 'officer-a', 'admin:disableOperator', { operatorId: cycled.id }));
    value(await call(a, 'officer-a', 'admin:enableOperator', { operatorId: cycled.id }));
    await endedAtB('cycle-1');
    await endedAtB(cycled.client); // every session of theirs there, not only one
    // Given another role and the old one back.
    const reroled = await operator('clerk', b);
    await signedInAtB(reroled, 'role-1');
    value(await call(a, 'officer-a', 'admin:updateRole', { operatorId: reroled.id, role: 'support' }));
    value(await call(a, 'officer-a', 'admin:updateRole', { operatorId: reroled.id, role: 'clerk' }));
    await endedAtB('role-1');
    // Locked by wrong passwords at desk A, then unlocked there (the unlock's own write).
    const locked = await operator('clerk', b);
    await signedInAtB(locked, 'lock-1');
    for (let i = 0; i < LIMIT; i++)
      await call(a, `lock-guess-${i}`, 'auth:signIn', { username: locked.username, password: `guess ${i}` });
    expect((await a.operators.byId(locked.id))?.locked_until).not.toBeNull();
    await a.operators.change(locked.id, () => ({
      fields: { locked_at: null, locked_until: null, failed_attempts: 0 },
      entries: [],
    }));
    await endedAtB('lock-1');
    expect(b.revoked.filter((r) => r === 'account-changed')).toHaveLength(4);
    // A fresh sign-in works for each, and a call that only reads (and wrong passwords below the
    // limit) end nothing.
    for (const [op, client] of [
      [cycled, 'cycle-2'],
      [reroled, 'role-2'],
      [locked, 'lock-2'],
    ] as const) {
      await signedInAtB(op, client);
      await call(a, `miss-${client}`, 'auth:signIn', { username: op.username, password: 'not the password' });
      expect(await call(b, client, 'policy:get', {})).toMatchObject({ ok: true });
    }
  });

  it('an operator’s own password change keeps the session it was made in and ends the others, at every desk', async () => {
    const clerk = await operator('clerk', b);
    value(await call(a, 'own-a', 'auth:signIn', { username: clerk.username, password: clerk.password }));
    const next = `${clerk.password} renewed`;
    value(await call(b, clerk.client, 'auth:changePassword', { currentPassword: clerk.password, newPassword: next }));
    expect(await call(b, clerk.client, 'policy:get', {})).toMatchObject({ ok: true });
    expect(await call(a, 'own-a', 'policy:get', {})).toMatchObject({ ok: false, error: { code: 'AUTH_REQUIRED' } });
    const rows = await Promise.all([a.operators.byId(clerk.id), b.operators.byId(clerk.id)]);
    // Made with a temporary password, changed by its owner twice: the epoch moved on each time.
    expect(rows.map((r) => r?.session_epoch)).toEqual([2, 2]);
  });

  it('a disable racing a sign-in: whichever lands first, the operator works at no desk afterwards', async () => {
    const clerk = await operator('clerk', b);
    for (let round = 0; round < 4; round++) {
      const client = `race-${round}`;
      const [signIn, disabled] = await Promise.all([
        call(b, client, 'auth:signIn', { username: clerk.username, password: clerk.password }),
        call(a, 'officer-a', 'admin:disableOperator', { operatorId: clerk.id }),
      ]);
      expect(disabled).toMatchObject({ ok: true });
      if (!signIn.ok) expect(signIn.error.code).toBe('AUTH_FAILED');
      // Signed in before the disable committed or not: the next call is refused.
      expect(await call(b, client, 'policy:get', {})).toMatchObject({ ok: false, error: { code: 'AUTH_REQUIRED' } });
      // Nothing else changed: no failure counted against the right password, still not locked.
      expect(await a.operators.byId(clerk.id)).toMatchObject({ failed_attempts: 0, locked_until: null });
      value(await call(a, 'officer-a', 'admin:enableOperator', { operatorId: clerk.id }));
    }
    expect(await countOf('admin.disableOperator', 'ok')).toBeGreaterThanOrEqual(4);
    await chainOk();
  });

  it('one approval used by two calls at once changes exactly one thing, and another desk cannot use it', async () => {
    const second = await operator('security_officer');
    const approval = {
      username: second.username,
      password: second.password,
      ...(value(await call(a, 'officer-a', 'approval:begin', { action: 'operator.privileged' })) as {
        challenge: string;
      }),
    };
    const before = (await a.operators.all()).length;
    const input = (username: string) => ({
      username,
      displayName: 'Twice',
      role: 'manager',
      temporaryPassword: 'temporary password twice',
      approval: { username: approval.username, password: approval.password, challenge: approval.challenge },
    });
    const results = await Promise.all([
      call(a, 'officer-a', 'admin:createOperator', input(`twice-a-${name}`)),
      call(a, 'officer-a', 'admin:createOperator', input(`twice-b-${name}`)),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, error: { code: 'APPROVAL_STALE' } });
    expect(await a.operators.all()).toHaveLength(before + 1);
    // A challenge lives with the session that took it: desk B has never heard of a fresh one.
    const fresh = value(await call(a, 'officer-a', 'approval:begin', { action: 'operator.privileged' })) as {
      challenge: string;
    };
    const officerB = 'officer-b';
    value(await call(b, officerB, 'auth:signIn', { username: officerName, password: OFFICER.password }));
    expect(
      await call(b, officerB, 'admin:createOperator', {
        ...input(`foreign-${name}`),
        approval: { username: approval.username, password: approval.password, challenge: fresh.challenge },
      }),
    ).toMatchObject({ ok: false, error: { code: 'APPROVAL_STALE' } });
    expect(await a.operators.all()).toHaveLength(before + 1);
    await chainOk();
  });

  it('a security officer re-roled at one desk is refused at the other; racing, no change of theirs lands after it', async () => {
    // The second officer works at desk B; the first officer demotes them at desk A, which (a change
    // to a security officer's account) needs a second officer's approval: a third one gives it.
    const secondOfficer = officers[0]!;
    const third = await operator('security_officer', a, () => approvalBy(secondOfficer));
    const secondRow = (await a.operators.byId(secondOfficer.id))!;
    const secondPassword = secondOfficer.password;
    const second = `b-${secondRow.username}`;
    value(await call(b, second, 'auth:signIn', { username: secondRow.username, password: secondPassword }));

    // Sequential: demoted at A, then B's next privileged call is refused and changes nothing.
    const victim = await operator('clerk');
    value(
      await call(a, 'officer-a', 'admin:updateRole', {
        operatorId: secondRow.id,
        role: 'manager',
        approval: await approvalBy(third),
      }),
    );
    expect(await call(b, second, 'admin:disableOperator', { operatorId: victim.id })).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED', message: expect.stringContaining('role') as unknown },
    });
    expect(b.revoked).toContain('role-changed');
    expect((await a.operators.byId(victim.id))?.disabled_at).toBeNull();

    // Racing: promoted back, signed in again at B, then B disables clerks while A demotes again.
    value(
      await call(a, 'officer-a', 'admin:updateRole', {
        operatorId: secondRow.id,
        role: 'security_officer',
        approval: await approvalBy(third),
      }),
    );
    value(await call(b, second, 'auth:signIn', { username: secondRow.username, password: secondPassword }));
    const victims = await Promise.all([operator('clerk'), operator('clerk'), operator('clerk')]);
    const demote = await approvalBy(third);
    const results = await Promise.all([
      call(a, 'officer-a', 'admin:updateRole', { operatorId: secondRow.id, role: 'clerk', approval: demote }),
      ...victims.map((v) => call(b, second, 'admin:disableOperator', { operatorId: v.id })),
    ]);
    expect(results[0]).toMatchObject({ ok: true });
    const rows = await e.audit();
    const demotedAt = rows.find(
      (r) =>
        r.action === 'admin.updateRole' &&
        r.object === `operator:${secondRow.username}` &&
        r.details.includes('"to":"clerk"'),
    )!.seq;
    for (const [i, v] of victims.entries()) {
      const r = results[i + 1]!;
      const entry = rows.find((x) => x.action === 'admin.disableOperator' && x.object === `operator:${v.username}`);
      const row = await a.operators.byId(v.id);
      if (r.ok) {
        // Landed while they were still an officer: its entry is chained before the demotion's.
        expect(entry?.seq).toBeLessThan(demotedAt);
        expect(row?.disabled_at).not.toBeNull();
      } else {
        expect(r.error.code).toBe('AUTH_REQUIRED');
        expect(entry).toBeUndefined();
        expect(row?.disabled_at).toBeNull();
      }
    }
    expect(await call(b, second, 'admin:listOperators', {})).toMatchObject({ ok: false });
    await chainOk();
  });

  it('a change already past the router when its officer is re-roled elsewhere is refused in its transaction', async () => {
    const fourth = await operator('security_officer', b, () => approvalBy(officers[1]!));
    const victim = await operator('clerk');
    const before = (await a.operators.byId(victim.id))!;
    const entries = (await e.audit()).length;
    // B's reset passes the router's check; just as B's repository is asked to make the change, desk
    // A's change to the officer's row commits (so the order does not hang on how fast B hashes).
    const reRoleAtA = () =>
      a.operators.change(fourth.id, () => ({
        fields: { role: 'manager' },
        entries: [
          {
            operatorId: null,
            operator: 'test',
            role: null,
            action: 'test.reRole',
            object: `operator:${fourth.username}`,
            outcome: 'ok',
          },
        ],
      }));
    const repoB = b.operators;
    const change = repoB.change.bind(repoB);
    let interleaved = false;
    repoB.change = async (id, decide) => {
      if (!interleaved && id === victim.id) {
        interleaved = true;
        await reRoleAtA();
      }
      return change(id, decide);
    };
    let reset;
    try {
      reset = await call(b, fourth.client, 'admin:resetPassword', {
        operatorId: victim.id,
        temporaryPassword: 'temporary password reset',
      });
    } finally {
      repoB.change = change;
    }
    expect(interleaved).toBe(true);
    expect(reset).toMatchObject({ ok: false, error: { code: 'AUTH_REQUIRED' } });
    const after = (await a.operators.byId(victim.id))!;
    expect(after).toEqual(before);
    const added = (await e.audit()).slice(entries);
    expect(added.map((r) => [r.action, r.outcome])).toEqual([
      ['test.reRole', 'ok'],
      ['admin.resetPassword', 'denied'],
    ]);
    await chainOk();
  });

  it('two desks saving policies over the same version: one new version, one audit entry, the other told to reload', async () => {
    // The third officer (the second was demoted above) approves both desks' saves.
    const approver = officers[1];
    expect((await a.operators.byId(approver!.id))?.role).toBe('security_officer');
    const current = value(await call(a, 'officer-a', 'policy:get', {})) as {
      version: number;
      policies: Record<string, unknown>;
    };
    const approverPassword = approver!.password;
    const save = async (d: Desk, client: string, sessionTimeoutMinutes: number) => {
      const { challenge } = value(await call(d, client, 'approval:begin', { action: 'policy.update' })) as {
        challenge: string;
      };
      return call(d, client, 'policy:update', {
        baseVersion: current.version,
        policies: { ...current.policies, sessionTimeoutMinutes },
        approval: { username: approver!.username, password: approverPassword, challenge },
      });
    };
    const results = await Promise.all([save(a, 'officer-a', 20), save(b, 'officer-b', 25)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, error: { code: 'POLICY_STALE' } });
    const after = value(await call(b, 'officer-b', 'policy:history', { limit: 10 })) as {
      versions: { version: number }[];
    };
    expect(after.versions[0]?.version).toBe(current.version + 1);
    expect(after.versions.filter((v) => v.version === current.version + 1)).toHaveLength(1);
    expect(await countOf('policy.update', 'ok')).toBe(1);
    await chainOk();
  });
});

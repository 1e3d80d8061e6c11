import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { policiesSchema } from '../../../src/shared/contract/policy.contract';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { addOperator, approvalFor, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';

describe('policy validation', () => {
  it('accepts the defaults', () => {
    expect(policiesSchema.safeParse(DEFAULT_POLICIES).success).toBe(true);
  });

  it.each([
    ['maxFailedSignIns', 0],
    ['maxFailedSignIns', 1000],
    ['lockoutMinutes', 0],
    ['lockoutMinutes', 241],
    ['lockoutMaxMinutes', 60 * 24 * 8],
    ['sessionTimeoutMinutes', 0],
    ['sessionTimeoutMinutes', 60 * 24 * 7],
    ['codeDigits', 3],
    ['codeDigits', 6.5],
    ['listLength', 5],
    ['listExpiryDays', 0],
    ['pinRetries', 100],
    ['activationRetries', -1],
    ['passkeyLength', 2],
    ['passkeyAlphabet', 'emoji'],
    ['passkeyMaxFailures', 50],
    ['passkeyMaxSends', 0],
    ['passkeyMaxSends', 11],
    ['auditCheckpointEvery', 0],
    ['verifyLookAhead', 0],
    ['verifyLookAhead', 21],
    ['verifyLookAhead', 2.5],
  ] as const)('rejects %s = %s', (field, bad) => {
    expect(policiesSchema.safeParse({ ...DEFAULT_POLICIES, [field]: bad }).success).toBe(false);
  });

  it('rejects a refill threshold at or above the list length', () => {
    const r = policiesSchema.safeParse({ ...DEFAULT_POLICIES, listLength: 50, refillThreshold: 50 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['refillThreshold']);
  });

  it('rejects a longest lockout shorter than the first', () => {
    const r = policiesSchema.safeParse({ ...DEFAULT_POLICIES, lockoutMinutes: 30, lockoutMaxMinutes: 20 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['lockoutMaxMinutes']);
  });

  it('refuses to switch dual control off for unlocks, policy changes and the key ceremony, and auditors as approvers', () => {
    const off = (action: keyof typeof DEFAULT_POLICIES.dualControl) => ({
      ...DEFAULT_POLICIES,
      dualControl: { ...DEFAULT_POLICIES.dualControl, [action]: { required: false, approverRoles: ['manager'] } },
    });
    expect(policiesSchema.safeParse(off('policy.update')).success).toBe(false);
    expect(policiesSchema.safeParse(off('operator.unlock')).success).toBe(false);
    expect(policiesSchema.safeParse(off('keys.ceremony')).success).toBe(false);
    expect(policiesSchema.safeParse(off('operator.privileged')).success).toBe(false);
    expect(policiesSchema.safeParse(off('mailer.reprint')).success).toBe(true);
    const auditorApproves = {
      ...DEFAULT_POLICIES,
      dualControl: { ...DEFAULT_POLICIES.dualControl, 'mailer.print': { required: true, approverRoles: ['auditor'] } },
    };
    expect(policiesSchema.safeParse(auditorApproves).success).toBe(false);
  });
});

describe('policy changes through the contract', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  let second: TestOperator;
  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
    second = await addOperator(t.ws, 'security_officer');
  });
  afterEach(() => t.dispose());

  const update = async (
    baseVersion: number,
    changes: Record<string, unknown>,
    approver: TestOperator | null = second,
  ) =>
    t.ws.router.dispatch(officer.client, 'policy:update', {
      baseVersion,
      policies: { ...DEFAULT_POLICIES, ...changes },
      ...(approver ? { approval: await approvalFor(t.ws, officer, 'policy.update', approver) } : {}),
    });

  it('rejects out-of-range values at the contract, saving nothing', async () => {
    expect(await update(0, { maxFailedSignIns: 0 })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await update(0, { verifyLookAhead: 21 })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await update(0, { verifyLookAhead: 0 })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(value(await t.ws.router.dispatch(officer.client, 'policy:get', {}))).toMatchObject({ version: 0 });
  });

  it('needs a second security officer to approve', async () => {
    expect(await update(0, { codeDigits: 8 }, null)).toMatchObject({ ok: false, error: { code: 'APPROVAL_REQUIRED' } });
    const manager = await addOperator(t.ws, 'manager');
    expect(await update(0, { codeDigits: 8 }, manager)).toMatchObject({ ok: false, error: { code: 'APPROVAL_ROLE' } });
  });

  it('keeps every version, refuses a stale edit, and audits old → new with both names', async () => {
    expect(value(await update(0, { codeDigits: 8 }))).toMatchObject({
      version: 1,
      changedBy: officer.username,
      approvedBy: second.username,
    });
    expect(await update(0, { codeDigits: 7 })).toMatchObject({ ok: false, error: { code: 'POLICY_STALE' } });
    expect(await update(1, { codeDigits: 8 })).toMatchObject({ ok: false, error: { code: 'POLICY_UNCHANGED' } });
    value(await update(1, { codeDigits: 8, listExpiryDays: 90 }));
    const history = value(await t.ws.router.dispatch(officer.client, 'policy:history', {})) as {
      versions: { version: number; policies: { codeDigits: number; listExpiryDays: number } }[];
    };
    expect(history.versions.map((v) => [v.version, v.policies.codeDigits, v.policies.listExpiryDays])).toEqual([
      [2, 8, 90],
      [1, 8, 365],
      [0, 6, 365],
    ]);
    const entries = (await auditRows(t.ws)).filter((r) => r.action === 'policy.update' && r.outcome === 'ok');
    expect(entries.map((e) => JSON.parse(e.details) as Record<string, unknown>)).toEqual([
      { version: 1, approvedBy: second.username, codeDigits: '6 → 8' },
      { version: 2, approvedBy: second.username, listExpiryDays: '365 → 90' },
    ]);
    expect(entries[0]?.operator).toBe(officer.username);
    expect(() => t.ws.db.prepare('DELETE FROM policy_versions').run()).toThrow(/append-only/);
  });

  it('services read the new value at use: a lower maxFailedSignIns locks sooner', async () => {
    value(await update(0, { maxFailedSignIns: 3 }));
    const clerk = await addOperator(t.ws, 'clerk');
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await t.ws.router.dispatch('x', 'auth:signIn', { username: clerk.username, password: 'wrong' });
      if (!r.ok) codes.push(r.error.code);
    }
    expect(codes).toEqual(['AUTH_FAILED', 'AUTH_FAILED', 'AUTH_FAILED']);
    const row = t.ws.db.prepare('SELECT failed_attempts, locked_until FROM operators WHERE id = ?').get(clerk.id) as {
      failed_attempts: number;
      locked_until: number | null;
    };
    expect(row.failed_attempts).toBe(3);
    expect(row.locked_until).toBeGreaterThan(Date.now());
  });

  it('services read the new value at use: session timeout', async () => {
    value(await update(0, { sessionTimeoutMinutes: 120 }));
    const me = value(await t.ws.router.dispatch(officer.client, 'auth:status', {})) as {
      session: { expiresAt: string };
    };
    const minutes = (Date.parse(me.session.expiresAt) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(110);
  });

  it('an older stored version gains fields added since, with their defaults', () => {
    const { codeDigits: _dropped, ...older } = { ...DEFAULT_POLICIES, maxFailedSignIns: 4 };
    t.ws.db
      .prepare(
        "INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by) VALUES (1, ?, 'now', ?, ?)",
      )
      .run(JSON.stringify(older), officer.id, officer.username);
    return t.ws.router.dispatch(officer.client, 'policy:get', {}).then((r) => {
      expect(value(r)).toMatchObject({
        version: 1,
        policies: { maxFailedSignIns: 4, codeDigits: DEFAULT_POLICIES.codeDigits },
      });
    });
  });
});

describe('a stored policy from before an action became mandatory', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  beforeEach(() => {
    t = freshSqliteWorkstation();
  });
  afterEach(() => t.dispose());

  it('still loads, with the action required again and its approver roles kept', async () => {
    const officer = await setupOfficer(t.ws);
    const stored = {
      ...DEFAULT_POLICIES,
      dualControl: {
        ...DEFAULT_POLICIES.dualControl,
        'keys.backup': { required: false, approverRoles: ['security_officer'] },
      },
    };
    // Written the way an older version stored it, past today's validation.
    t.ws.db
      .prepare(
        `INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by, approved_by_id, approved_by)
         VALUES (1, ?, ?, ?, ?, NULL, NULL)`,
      )
      .run(JSON.stringify(stored), new Date().toISOString(), officer.id, officer.username);
    const got = value(await t.ws.router.dispatch(officer.client, 'policy:get', {})) as {
      version: number;
      policies: typeof DEFAULT_POLICIES;
    };
    expect(got.version).toBe(1);
    expect(got.policies.dualControl['keys.backup']).toEqual({ required: true, approverRoles: ['security_officer'] });
  });
});

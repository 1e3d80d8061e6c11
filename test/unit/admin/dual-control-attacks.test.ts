import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { approvalDigest } from '../../../src/core/dual-control/approval-binding';
import { CHALLENGE_TTL_MS } from '../../../src/core/dual-control/dual-control.service';
import { SqliteOperatorRepository } from '../../../src/core/auth/operator.repository';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { addOperator, approvalFor, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';

// The attacks of issue #8 item 2, through the contract: one security officer must not pass dual
// control alone. Each refusal leaves operators and policies as they were and is audited.
describe('dual control attacked by one security officer', { timeout: 60_000 }, () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  let second: TestOperator;

  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
    second = await addOperator(t.ws, 'security_officer');
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await t.dispose();
  });

  const call = (who: TestOperator | string, channel: string, input: unknown) =>
    t.ws.router.dispatch(typeof who === 'string' ? who : who.client, channel, input);
  const rows = () => ({
    operators: t.ws.db.prepare('SELECT * FROM operators ORDER BY id').all(),
    policies: t.ws.db.prepare('SELECT * FROM policy_versions ORDER BY version').all(),
  });
  const refusals = async () =>
    (await auditRows(t.ws)).filter((r) => r.action === 'dualControl.approve' && r.outcome === 'denied');
  const lastRefusal = async () => JSON.parse((await refusals()).at(-1)?.details ?? '{}') as Record<string, unknown>;
  // keys.backup is mandatory now (item 3) and cannot be switched off by anyone; the attack goes on
  // against the actions a policy may still relax, which must need a genuine second person to do so.
  const rotateAndReprintOff = {
    ...DEFAULT_POLICIES,
    dualControl: {
      ...DEFAULT_POLICIES.dualControl,
      'keys.rotate': { required: false, approverRoles: ['security_officer'] },
      'mailer.reprint': { required: false, approverRoles: ['manager', 'security_officer'] },
    },
  };
  const switchOff = async (approver: { username: string; password: string }) =>
    call(officer, 'policy:update', {
      baseVersion: 0,
      policies: rotateAndReprintOff,
      approval: await approvalFor(t.ws, officer, 'policy.update', approver),
    });
  const create = async (role: string, username: string, approver?: TestOperator) =>
    call(officer, 'admin:createOperator', {
      username,
      displayName: username,
      role,
      temporaryPassword: `temporary password ${username}`,
      ...(approver ? { approval: await approvalFor(t.ws, officer, 'operator.privileged', approver) } : {}),
    });
  const byName = (username: string) =>
    t.ws.db.prepare('SELECT * FROM operators WHERE username = ?').get(username) as
      | {
          id: number;
          role: string;
          password_hash: string;
          password_set_by: number | null;
          must_change_password: number;
          disabled_at: string | null;
        }
      | undefined;

  it('refuses a second officer’s password that the requester reset, and the reset itself needs a second officer', async () => {
    const before = rows();
    expect(
      await call(officer, 'admin:resetPassword', {
        operatorId: second.id,
        temporaryPassword: 'chosen by the requester',
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(rows()).toEqual(before);
    expect(await lastRefusal()).toMatchObject({ for: 'operator.privileged', reason: 'no-approval' });

    // Even with a third officer approving the reset, the reset password cannot approve the requester.
    const third = await addOperator(t.ws, 'security_officer');
    const approval = await approvalFor(t.ws, officer, 'operator.privileged', third);
    value(
      await call(officer, 'admin:resetPassword', {
        operatorId: second.id,
        temporaryPassword: 'chosen by the requester',
        approval,
      }),
    );
    expect(byName(second.username)).toMatchObject({ password_set_by: officer.id, must_change_password: 1 });
    const reset = rows();
    const r = await switchOff({ username: second.username, password: 'chosen by the requester' });
    expect(r).toMatchObject({ ok: false, error: { code: 'APPROVER_TEMPORARY_PASSWORD' } });
    expect(!r.ok && r.error.message).toMatch(/must first change the temporary password/);
    expect(rows()).toEqual(reset);
    expect(await lastRefusal()).toMatchObject({
      for: 'policy.update',
      reason: 'temporary-password',
      initiator: officer.username,
    });
  });

  it('refuses a password set by the requester even when it is no longer marked temporary', async () => {
    // A row as a bug or an old build could leave it: the requester's password choice, not temporary.
    t.ws.db
      .prepare('UPDATE operators SET password_set_by = ?, must_change_password = 0 WHERE id = ?')
      .run(officer.id, second.id);
    const before = rows();
    expect(await switchOff(second)).toMatchObject({ ok: false, error: { code: 'APPROVER_PASSWORD_SET_BY_INITIATOR' } });
    expect(rows()).toEqual(before);
    expect(await lastRefusal()).toMatchObject({ reason: 'password-set-by-initiator' });
  });

  it('refuses a password set by anyone else within the policy window, and accepts it after', async () => {
    const third = await addOperator(t.ws, 'security_officer');
    const justNow = new Date().toISOString();
    t.ws.db
      .prepare('UPDATE operators SET password_set_by = ?, password_set_at = ? WHERE id = ?')
      .run(third.id, justNow, second.id);
    const before = rows();
    const r = await switchOff(second);
    expect(r).toMatchObject({ ok: false, error: { code: 'APPROVER_PASSWORD_RECENT' } });
    expect(!r.ok && r.error.message).toContain(`${DEFAULT_POLICIES.approverResetWindowHours} hours`);
    expect(rows()).toEqual(before);
    const longAgo = new Date(Date.now() - (DEFAULT_POLICIES.approverResetWindowHours + 1) * 3_600_000).toISOString();
    t.ws.db.prepare('UPDATE operators SET password_set_at = ? WHERE id = ?').run(longAgo, second.id);
    expect(value(await switchOff(second))).toMatchObject({ version: 1, approvedBy: second.username });
  });

  it('refuses a new officer’s temporary password, so that puppet cannot switch dual control off for keys.rotate and mailer.reprint', async () => {
    const before = rows();
    // With a second officer on the desk, the puppet cannot even be created alone.
    expect(await create('security_officer', 'puppet')).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(rows()).toEqual(before);
    // Created properly (the second officer approves), its temporary password still approves nothing.
    value(await create('security_officer', 'puppet', second));
    const created = rows();
    expect(await switchOff({ username: 'puppet', password: 'temporary password puppet' })).toMatchObject({
      ok: false,
      error: { code: 'APPROVER_TEMPORARY_PASSWORD' },
    });
    expect(rows()).toEqual(created);
    expect(value(await call(officer, 'policy:get', {}))).toMatchObject({
      version: 0,
      policies: { dualControl: DEFAULT_POLICIES.dualControl },
    });
  });

  it('on a desk with one security officer, a puppet it creates cannot approve with its temporary password', async () => {
    await t.dispose();
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
    value(await create('security_officer', 'puppet'));
    expect((await auditRows(t.ws)).find((r) => r.action === 'admin.createOperator')?.details).toContain(
      '"soleOfficer":true',
    );
    const before = rows();
    expect(await switchOff({ username: 'puppet', password: 'temporary password puppet' })).toMatchObject({
      ok: false,
      error: { code: 'APPROVER_TEMPORARY_PASSWORD' },
    });
    expect(rows()).toEqual(before);
    expect(before.policies).toEqual([]);
  });

  it('promoting a clerk to security officer needs a second security officer', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    const manager = await addOperator(t.ws, 'manager');
    const before = rows();
    expect(await call(officer, 'admin:updateRole', { operatorId: clerk.id, role: 'security_officer' })).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    const byManager = await approvalFor(t.ws, officer, 'operator.privileged', manager);
    expect(
      await call(officer, 'admin:updateRole', { operatorId: clerk.id, role: 'security_officer', approval: byManager }),
    ).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_ROLE' },
    });
    expect(rows()).toEqual(before);
    const approval = await approvalFor(t.ws, officer, 'operator.privileged', second);
    expect(
      value(await call(officer, 'admin:updateRole', { operatorId: clerk.id, role: 'security_officer', approval })),
    ).toMatchObject({
      role: 'security_officer',
    });
    const entry = (await auditRows(t.ws)).find((r) => r.action === 'admin.updateRole');
    expect(JSON.parse(entry?.details ?? '{}')).toMatchObject({
      from: 'clerk',
      to: 'security_officer',
      approvedBy: second.username,
    });
  });

  it('creating a manager or security officer needs approval; a clerk does not', async () => {
    for (const role of ['manager', 'security_officer']) {
      const before = rows();
      expect(await create(role, `new-${role}`)).toMatchObject({ ok: false, error: { code: 'APPROVAL_REQUIRED' } });
      expect(rows()).toEqual(before);
      expect(value(await create(role, `new-${role}`, second))).toMatchObject({ role, mustChangePassword: true });
      expect(byName(`new-${role}`)?.password_set_by).toBe(officer.id);
    }
    value(await create('clerk', 'new-clerk'));
  });

  it('re-enabling, disabling and resetting a security officer need approval', async () => {
    const third = await addOperator(t.ws, 'security_officer');
    const privileged = async (channel: string, input: Record<string, unknown>) => {
      const before = rows();
      expect(await call(officer, channel, input), channel).toMatchObject({
        ok: false,
        error: { code: 'APPROVAL_REQUIRED' },
      });
      expect(rows()).toEqual(before);
      const approval = await approvalFor(t.ws, officer, 'operator.privileged', second);
      return value(await call(officer, channel, { ...input, approval }));
    };
    expect(await privileged('admin:disableOperator', { operatorId: third.id })).toMatchObject({ disabled: true });
    expect(await privileged('admin:enableOperator', { operatorId: third.id })).toMatchObject({ disabled: false });
    expect(
      await privileged('admin:resetPassword', { operatorId: third.id, temporaryPassword: 'a fresh temporary one' }),
    ).toMatchObject({
      mustChangePassword: true,
    });
  });

  it('an approval serves one call: not another action, not another input, not another session, not twice, not late', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    const support = await addOperator(t.ws, 'support');
    const promote = (operatorId: number, approval: unknown) =>
      call(officer, 'admin:updateRole', { operatorId, role: 'security_officer', approval });
    const before = rows();

    const forPolicy = await approvalFor(t.ws, officer, 'policy.update', second);
    expect(await promote(clerk.id, forPolicy)).toMatchObject({ ok: false, error: { code: 'APPROVAL_MISMATCH' } });
    expect(await lastRefusal()).toMatchObject({ reason: 'challenge-for-other-action' });

    const fromSecondDesk = await approvalFor(t.ws, second, 'operator.privileged', second);
    expect(await promote(clerk.id, fromSecondDesk)).toMatchObject({ ok: false, error: { code: 'APPROVAL_STALE' } });

    const late = await approvalFor(t.ws, officer, 'operator.privileged', second);
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + CHALLENGE_TTL_MS + 1);
    expect(await promote(clerk.id, late)).toMatchObject({ ok: false, error: { code: 'APPROVAL_STALE' } });
    vi.restoreAllMocks();
    expect(rows()).toEqual(before);

    const once = await approvalFor(t.ws, officer, 'operator.privileged', second);
    value(await promote(clerk.id, once));
    const promoted = rows();
    expect(await promote(support.id, once)).toMatchObject({ ok: false, error: { code: 'APPROVAL_STALE' } });
    expect(rows()).toEqual(promoted);

    // The approval's audit entry names the input it approved.
    const approved = (await auditRows(t.ws)).filter((r) => r.action === 'dualControl.approve' && r.outcome === 'ok');
    const entry = JSON.parse(approved.at(-1)?.details ?? '{}') as { for?: string; input?: string };
    const digestFor = (operatorId: number) =>
      approvalDigest('operator.privileged', { channel: 'admin:updateRole', operatorId, role: 'security_officer' });
    expect(entry).toEqual(expect.objectContaining({ for: 'operator.privileged', input: digestFor(clerk.id) }));
    expect(digestFor(support.id)).not.toBe(entry.input);
  });

  it('one approval used by two concurrent calls succeeds at most once', async () => {
    const clerks = [await addOperator(t.ws, 'clerk'), await addOperator(t.ws, 'clerk')];
    const approval = await approvalFor(t.ws, officer, 'operator.privileged', second);
    const results = await Promise.all(
      clerks.map((c) => call(officer, 'admin:updateRole', { operatorId: c.id, role: 'security_officer', approval })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.flatMap((r) => (r.ok ? [] : [r.error.code]))).toEqual(['APPROVAL_STALE']);
    const officers = clerks.map((c) => byName(c.username)?.role).filter((r) => r === 'security_officer');
    expect(officers).toHaveLength(1);
  });

  it('keeps no password in the approval audit entries or refusals', async () => {
    await switchOff({ username: second.username, password: 'a wrong approver password' });
    const text = JSON.stringify(await auditRows(t.ws));
    expect(text).not.toContain('a wrong approver password');
    expect(text).not.toContain(second.password);
  });
});

describe('approval digest', () => {
  it('binds every field but secrets, whatever the key order', () => {
    const a = approvalDigest('policy.update', { baseVersion: 1, policies: { pinRetries: 3, passkeyLength: 8 } });
    expect(approvalDigest('policy.update', { policies: { passkeyLength: 8, pinRetries: 3 }, baseVersion: 1 })).toBe(a);
    expect(approvalDigest('policy.update', { baseVersion: 1, policies: { pinRetries: 4, passkeyLength: 8 } })).not.toBe(
      a,
    );
    expect(approvalDigest('policy.update', { baseVersion: 1, policies: { pinRetries: 3, passkeyLength: 9 } })).not.toBe(
      a,
    );
    expect(approvalDigest('keys.ceremony', { baseVersion: 1, policies: { pinRetries: 3, passkeyLength: 8 } })).not.toBe(
      a,
    );
    const reset = (temporaryPassword: string, approval: unknown) =>
      approvalDigest('operator.privileged', { operatorId: 2, temporaryPassword, approval });
    expect(reset('one secret', { challenge: 'a' })).toBe(reset('another secret', { challenge: 'b' }));
  });
});

describe('the sole-officer exception', { timeout: 60_000 }, () => {
  it('does not hold when another officer is enabled while the change waits, and nothing changes', async () => {
    const t = freshSqliteWorkstation();
    try {
      const officer = await setupOfficer(t.ws);
      // Right after the desk found itself the sole officer (so no approval is asked), while the
      // temporary password is hashed, another desk on the same file adds a security officer.
      const read = SqliteOperatorRepository.prototype.enabledOfficers;
      const spy = vi
        .spyOn(SqliteOperatorRepository.prototype, 'enabledOfficers')
        .mockImplementationOnce(async function (this: SqliteOperatorRepository) {
          const ids = await read.call(this);
          t.ws.db
            .prepare(
              `INSERT INTO operators (username, display_name, role, password_hash, created_at, updated_at)
             VALUES ('elsewhere', 'Elsewhere', 'security_officer', 'x', 'now', 'now')`,
            )
            .run();
          return ids;
        });
      const creating = t.ws.router.dispatch(officer.client, 'admin:createOperator', {
        username: 'late',
        displayName: 'Late',
        role: 'manager',
        temporaryPassword: 'temporary password late',
      });
      expect(await creating).toMatchObject({ ok: false, error: { code: 'APPROVAL_REQUIRED' } });
      expect(t.ws.db.prepare("SELECT count(*) AS n FROM operators WHERE username = 'late'").get()).toEqual({ n: 0 });
      const refused = (await auditRows(t.ws)).find((r) => r.action === 'dualControl.approve' && r.outcome === 'denied');
      expect(JSON.parse(refused?.details ?? '{}')).toMatchObject({
        reason: 'approval-needed-now',
        channel: 'admin:createOperator',
      });
      expect(spy).toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
      await t.dispose();
    }
  });
});

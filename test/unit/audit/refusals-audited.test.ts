import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelName } from '../../../src/shared/contract';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy-values';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { createKeystore, KEYSTORE_PASSPHRASE } from '../../support/keys';
import {
  addOperator,
  approvalFor,
  approvalOf,
  auditRows,
  setupOfficer,
  value,
  type TestOperator,
} from '../../support/operators';

// A refused state-changing call leaves a trace: the router audits it unless the service already did.
describe('refused state-changing calls are audited', { timeout: 60_000 }, () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
  });
  afterEach(() => t.dispose());

  /** Calls `channel` as `by`, expects the refusal `code`, and returns the audit entries it wrote. */
  const refused = async (by: TestOperator, channel: ChannelName, input: unknown, code: string) => {
    const before = (await auditRows(t.ws)).length;
    expect(await t.ws.router.dispatch(by.client, channel, input)).toMatchObject({ ok: false, error: { code } });
    return (await auditRows(t.ws)).slice(before);
  };
  const routerEntry = (by: TestOperator, channel: string, code: string): unknown =>
    expect.objectContaining({
      action: channel.replace(':', '.'),
      outcome: 'denied',
      operator: by.username,
      details: JSON.stringify({ code }),
    });

  it('SELF_CHANGE', async () => {
    const written = await refused(
      officer,
      'admin:updateRole',
      { operatorId: officer.id, role: 'manager' },
      'SELF_CHANGE',
    );
    expect(written).toEqual([routerEntry(officer, 'admin:updateRole', 'SELF_CHANGE')]);
  });

  it('APPROVAL_REQUIRED', async () => {
    const manager = await addOperator(t.ws, 'manager');
    const clerk = await addOperator(t.ws, 'clerk');
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      await t.ws.router.dispatch('screen', 'auth:signIn', { username: clerk.username, password: 'wrong' });
    }
    const written = await refused(manager, 'admin:unlockOperator', { username: clerk.username }, 'APPROVAL_REQUIRED');
    // Dual control audits a missing approval itself (with a digest of the input), so the router adds nothing.
    expect(written).toEqual([
      expect.objectContaining({ action: 'dualControl.approve', outcome: 'denied', operator: manager.username }),
    ]);
    expect(JSON.parse(written[0]!.details)).toMatchObject({ for: 'operator.unlock', reason: 'no-approval' });
  });

  it('PASSWORD_REUSED', async () => {
    const same = { currentPassword: officer.password, newPassword: officer.password };
    const written = await refused(officer, 'auth:changePassword', same, 'PASSWORD_REUSED');
    expect(written).toEqual([routerEntry(officer, 'auth:changePassword', 'PASSWORD_REUSED')]);
  });

  it('KEYSTORE_EXISTS', async () => {
    await createKeystore(t.ws, officer);
    const written = await refused(officer, 'keys:create', { passphrase: KEYSTORE_PASSPHRASE }, 'KEYSTORE_EXISTS');
    expect(written).toEqual([routerEntry(officer, 'keys:create', 'KEYSTORE_EXISTS')]);
  });

  it('CEREMONY_COMPONENT_WEAK', async () => {
    const second = await addOperator(t.ws, 'security_officer');
    await createKeystore(t.ws, officer);
    value(
      await t.ws.router.dispatch(officer.client, 'keys:ceremonyBegin', {
        components: 2,
        approval: await approvalFor(t.ws, officer, 'keys.ceremony', second),
      }),
    );
    const zeros = { index: 1, component: '00'.repeat(32), custodian: approvalOf(officer) };
    const written = await refused(officer, 'keys:ceremonyEnterComponent', zeros, 'CEREMONY_COMPONENT_WEAK');
    expect(written).toEqual([routerEntry(officer, 'keys:ceremonyEnterComponent', 'CEREMONY_COMPONENT_WEAK')]);
    expect(JSON.stringify(written)).not.toContain('0000');
  });

  it('does not double a refusal the service audits itself', async () => {
    const manager = await addOperator(t.ws, 'manager');
    const clerk = await addOperator(t.ws, 'clerk');
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      await t.ws.router.dispatch('screen', 'auth:signIn', { username: clerk.username, password: 'wrong' });
    }
    const self = await approvalFor(t.ws, manager, 'operator.unlock', manager);
    const written = await refused(
      manager,
      'admin:unlockOperator',
      { username: clerk.username, approval: self },
      'APPROVAL_SAME_OPERATOR',
    );
    expect(written).toEqual([expect.objectContaining({ action: 'dualControl.approve', outcome: 'denied' })]);
  });

  it('leaves a refused read alone: only state-changing channels are audited', async () => {
    const before = (await auditRows(t.ws)).length;
    expect(await t.ws.router.dispatch(officer.client, 'keys:list', {})).toMatchObject({
      ok: false,
      error: { code: 'KEYSTORE_LOCKED' },
    });
    expect(await auditRows(t.ws)).toHaveLength(before);
  });
});

describe('changing one’s password', { timeout: 60_000 }, () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
  });
  afterEach(() => t.dispose());

  const status = (client: string) => t.ws.router.dispatch(client, 'auth:status', {});

  it('counts a wrong current password toward the lockout; the lockout signs the operator out everywhere', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    value(
      await t.ws.router.dispatch('second-window', 'auth:signIn', {
        username: clerk.username,
        password: clerk.password,
      }),
    );
    const codes: string[] = [];
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      const r = await t.ws.router.dispatch(clerk.client, 'auth:changePassword', {
        currentPassword: `guess ${i}`,
        newPassword: 'a new password 1',
      });
      if (!r.ok) codes.push(r.error.code);
    }
    expect(codes).toEqual([...Array<string>(DEFAULT_POLICIES.maxFailedSignIns - 1).fill('AUTH_FAILED'), 'AUTH_LOCKED']);
    const row = t.ws.db.prepare('SELECT failed_attempts, locked_until FROM operators WHERE id = ?').get(clerk.id);
    expect(row).toMatchObject({
      failed_attempts: DEFAULT_POLICIES.maxFailedSignIns,
      locked_until: expect.any(Number) as number,
    });
    expect(await status(clerk.client)).toMatchObject({ value: { session: null } });
    expect(await status('second-window')).toMatchObject({ value: { session: null } });
    expect(
      await t.ws.router.dispatch('x', 'auth:signIn', { username: clerk.username, password: clerk.password }),
    ).toMatchObject({ ok: false });
    expect((await auditRows(t.ws)).filter((r) => r.action === 'auth.lockout')).toHaveLength(1);
  });

  it('concurrent wrong current passwords lock at exactly the limit', async () => {
    const attempts = Array.from({ length: 40 }, (_, i) =>
      t.ws.router.dispatch(officer.client, 'auth:changePassword', {
        currentPassword: `guess ${i}`,
        newPassword: 'a new password 1',
      }),
    );
    await Promise.all(attempts);
    const row = t.ws.db.prepare('SELECT failed_attempts FROM operators WHERE id = ?').get(officer.id);
    expect(row).toEqual({ failed_attempts: DEFAULT_POLICIES.maxFailedSignIns });
  });

  it('a successful change ends the operator’s other sessions and keeps this one', async () => {
    value(
      await t.ws.router.dispatch('second-window', 'auth:signIn', {
        username: officer.username,
        password: officer.password,
      }),
    );
    const other = await addOperator(t.ws, 'manager');
    value(
      await t.ws.router.dispatch(officer.client, 'auth:changePassword', {
        currentPassword: officer.password,
        newPassword: 'a brand new password',
      }),
    );
    expect(await status('second-window')).toMatchObject({ value: { session: null } });
    expect(await status(officer.client)).toMatchObject({ value: { session: { username: officer.username } } });
    expect(await status(other.client)).toMatchObject({ value: { session: { username: other.username } } });
    const entry = (await auditRows(t.ws))
      .filter((r) => r.action === 'auth.changePassword' && r.outcome === 'ok')
      .at(-1);
    expect(JSON.parse(entry?.details ?? '{}')).toEqual({ endedSessions: 1 });
  });
});

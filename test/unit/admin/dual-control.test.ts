import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import {
  addOperator,
  approvalFor,
  approvalOf,
  auditRows,
  setupOfficer,
  value,
  type TestOperator,
} from '../../support/operators';

// Unlocking an operator is the dual-controlled action here; the policy change uses the same service.
describe('dual control', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  let manager: TestOperator;
  let locked: TestOperator;

  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
    manager = await addOperator(t.ws, 'manager');
    locked = await addOperator(t.ws, 'clerk');
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      await t.ws.router.dispatch('elsewhere', 'auth:signIn', { username: locked.username, password: 'wrong' });
    }
  });
  afterEach(() => t.dispose());

  const unlock = async (by: TestOperator, approver?: { username: string; password: string }) =>
    t.ws.router.dispatch(by.client, 'admin:unlockOperator', {
      username: locked.username,
      ...(approver ? { approval: await approvalFor(t.ws, by, 'operator.unlock', approver) } : {}),
    });
  const isLocked = () =>
    !!(t.ws.db.prepare('SELECT locked_at FROM operators WHERE id = ?').get(locked.id) as { locked_at: string | null })
      .locked_at;

  it('asks for an approver when none is given', async () => {
    expect(await unlock(manager)).toMatchObject({ ok: false, error: { code: 'APPROVAL_REQUIRED' } });
    expect(isLocked()).toBe(true);
  });

  it('succeeds with a second operator of the right role and audits both names', async () => {
    expect(await unlock(manager, approvalOf(officer))).toEqual({
      ok: true,
      value: { username: locked.username, approvedBy: officer.username },
    });
    expect(isLocked()).toBe(false);
    const rows = await auditRows(t.ws);
    expect(rows).toContainEqual(
      expect.objectContaining({
        action: 'dualControl.approve',
        outcome: 'ok',
        operator: officer.username,
        object: 'operator.unlock',
      }),
    );
    const approval = rows.find((r) => r.action === 'dualControl.approve' && r.outcome === 'ok');
    expect(JSON.parse(approval?.details ?? '{}')).toMatchObject({ initiator: manager.username });
    const unlocked = rows.find((r) => r.action === 'admin.unlockOperator');
    expect(unlocked?.operator).toBe(manager.username);
    expect(JSON.parse(unlocked?.details ?? '{}')).toMatchObject({ approvedBy: officer.username });
    value(await t.ws.router.dispatch('later', 'auth:signIn', approvalOf(locked)));
  });

  it('refuses the same operator twice, whatever the spelling of the name', async () => {
    const r = await unlock(manager, { username: manager.username.toUpperCase(), password: manager.password });
    expect(r).toMatchObject({ ok: false, error: { code: 'APPROVAL_SAME_OPERATOR' } });
    expect(isLocked()).toBe(true);
  });

  it('refuses a lower role: a manager approving a security officer', async () => {
    const r = await unlock(officer, approvalOf(manager));
    expect(r).toMatchObject({ ok: false, error: { code: 'APPROVAL_ROLE' } });
    expect(isLocked()).toBe(true);
    expect(await auditRows(t.ws)).toContainEqual(
      expect.objectContaining({ action: 'dualControl.approve', outcome: 'denied', operator: manager.username }),
    );
  });

  it('refuses a role the policy does not name: a clerk approving an unlock', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    expect(await unlock(manager, approvalOf(clerk))).toMatchObject({ ok: false, error: { code: 'APPROVAL_ROLE' } });
    expect(isLocked()).toBe(true);
  });

  it('refuses a locked approver', async () => {
    const other = await addOperator(t.ws, 'security_officer');
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      await t.ws.router.dispatch('elsewhere', 'auth:signIn', { username: other.username, password: 'wrong' });
    }
    expect(await unlock(manager, approvalOf(other))).toMatchObject({ ok: false, error: { code: 'APPROVER_LOCKED' } });
    expect(isLocked()).toBe(true);
  });

  it('refuses a disabled approver', async () => {
    const other = await addOperator(t.ws, 'security_officer');
    // Disabling a security officer needs a second officer; the one disabled agrees.
    const approval = await approvalFor(t.ws, officer, 'operator.privileged', other);
    value(await t.ws.router.dispatch(officer.client, 'admin:disableOperator', { operatorId: other.id, approval }));
    expect(await unlock(manager, approvalOf(other))).toMatchObject({ ok: false, error: { code: 'APPROVER_DISABLED' } });
    expect(isLocked()).toBe(true);
  });

  it("counts a wrong approver password toward the approver's lockout", async () => {
    const codes: string[] = [];
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      const r = await unlock(manager, { username: officer.username, password: 'not the password' });
      if (!r.ok) codes.push(r.error.code);
    }
    expect(codes.at(0)).toBe('APPROVAL_FAILED');
    expect(codes.at(-1)).toBe('APPROVER_LOCKED');
    const first = await unlock(manager, { username: officer.username, password: 'not the password' });
    expect(JSON.stringify(first)).not.toContain('not the password');
    const row = t.ws.db.prepare('SELECT locked_at FROM operators WHERE id = ?').get(officer.id) as {
      locked_at: string | null;
    };
    expect(row.locked_at).not.toBeNull();
    expect(await auditRows(t.ws)).toContainEqual(
      expect.objectContaining({ action: 'auth.lockout', operator: officer.username }),
    );
    expect(isLocked()).toBe(true);
  });

  it('is only for managers and security officers to start', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    expect(await unlock(clerk, approvalOf(officer))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });
});

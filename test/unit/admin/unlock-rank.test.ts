import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy-values';
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

// Unlocking reaches into another operator's account: nobody below the locked operator's role may start or approve it.
describe('unlocking a security officer', { timeout: 60_000 }, () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  let secondOfficer: TestOperator;
  let lockedOfficer: TestOperator;
  let manager: TestOperator;
  let manager2: TestOperator;

  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
    // Made first, so it is the officer that approves creating the others (the locked one cannot).
    secondOfficer = await addOperator(t.ws, 'security_officer');
    lockedOfficer = await addOperator(t.ws, 'security_officer');
    manager = await addOperator(t.ws, 'manager');
    manager2 = await addOperator(t.ws, 'manager');
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      await t.ws.router.dispatch('sign-in-screen', 'auth:signIn', {
        username: lockedOfficer.username,
        password: 'wrong',
      });
    }
  }, 30_000);
  afterEach(() => t.dispose());

  const unlock = async (by: TestOperator, approver: TestOperator) =>
    t.ws.router.dispatch(by.client, 'admin:unlockOperator', {
      username: lockedOfficer.username,
      approval: await approvalFor(t.ws, by, 'operator.unlock', approver),
    });
  const operatorRows = () => t.ws.db.prepare('SELECT * FROM operators ORDER BY id').all();

  it('refuses two managers, with nothing changed but the audit entry', async () => {
    const before = operatorRows();
    const approvalsBefore = (await auditRows(t.ws)).filter((e) => e.action === 'dualControl.approve').length;
    const r = await unlock(manager, manager2);
    expect(r).toMatchObject({ ok: false, error: { code: 'UNLOCK_ROLE' } });
    expect(operatorRows()).toEqual(before);
    const denied = (await auditRows(t.ws)).filter((e) => e.action === 'admin.unlockOperator');
    expect(denied).toEqual([expect.objectContaining({ operator: manager.username, outcome: 'denied' })]);
    expect(JSON.parse(denied[0]!.details)).toMatchObject({
      reason: 'initiator-outranked',
      targetRole: 'security_officer',
    });
    // Refused before the approver was asked: the approval was not spent.
    expect((await auditRows(t.ws)).filter((e) => e.action === 'dualControl.approve')).toHaveLength(approvalsBefore);
  });

  it('refuses a manager even with a security officer as approver', async () => {
    const before = operatorRows();
    expect(await unlock(manager, officer)).toMatchObject({ ok: false, error: { code: 'UNLOCK_ROLE' } });
    expect(operatorRows()).toEqual(before);
  });

  it('refuses a security officer with a manager as approver', async () => {
    const before = operatorRows();
    expect(await unlock(officer, manager)).toMatchObject({ ok: false, error: { code: 'APPROVAL_ROLE' } });
    expect(operatorRows()).toEqual(before);
  });

  it('two security officers unlock it, and the officer signs in again', async () => {
    expect(await unlock(officer, secondOfficer)).toEqual({
      ok: true,
      value: { username: lockedOfficer.username, approvedBy: secondOfficer.username },
    });
    value(await t.ws.router.dispatch('later', 'auth:signIn', approvalOf(lockedOfficer)));
  });

  it('a manager still unlocks a clerk', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
      await t.ws.router.dispatch('other-screen', 'auth:signIn', { username: clerk.username, password: 'wrong' });
    }
    const r = await t.ws.router.dispatch(manager.client, 'admin:unlockOperator', {
      username: clerk.username,
      approval: await approvalFor(t.ws, manager, 'operator.unlock', manager2),
    });
    expect(r).toMatchObject({ ok: true, value: { approvedBy: manager2.username } });
  });
});

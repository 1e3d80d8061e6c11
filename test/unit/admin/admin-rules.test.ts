import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteOperatorRepository } from '../../../src/core/auth/operator.repository';
import { AdminService } from '../../../src/core/admin/admin.service';
import { AuditService } from '../../../src/core/audit/audit.service';
import { AuthService } from '../../../src/core/auth/auth.service';
import { SessionStore } from '../../../src/core/auth/session.store';
import { DualControlService } from '../../../src/core/dual-control/dual-control.service';
import { DbPolicySource } from '../../../src/core/policy/policy.service';
import { freshSqliteWorkstation, OFFICER } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';

describe('operator administration rules', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
  });
  afterEach(() => t.dispose());

  const call = (client: string, channel: Parameters<typeof t.ws.router.dispatch>[1], input: unknown) =>
    t.ws.router.dispatch(client, channel, input);

  it('creates an operator who must change the temporary password first', async () => {
    value(
      await call(officer.client, 'admin:createOperator', {
        username: 'carl',
        displayName: 'Carl',
        role: 'clerk',
        temporaryPassword: 'temporary password 1',
      }),
    );
    value(await call('carl-desk', 'auth:signIn', { username: 'carl', password: 'temporary password 1' }));
    expect(await call('carl-desk', 'dashboard:summary', {})).toMatchObject({
      ok: false,
      error: { code: 'PASSWORD_CHANGE_REQUIRED' },
    });
    expect(
      await call(officer.client, 'admin:createOperator', {
        username: 'CARL',
        displayName: 'Carl 2',
        role: 'clerk',
        temporaryPassword: 'temporary password 1',
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'OPERATOR_EXISTS' },
    });
  });

  it('refuses a change of your own role, and other roles may not administer', async () => {
    expect(await call(officer.client, 'admin:updateRole', { operatorId: officer.id, role: 'manager' })).toMatchObject({
      ok: false,
      error: { code: 'SELF_CHANGE' },
    });
    const manager = await addOperator(t.ws, 'manager');
    expect(
      await call(manager.client, 'admin:updateRole', { operatorId: manager.id, role: 'security_officer' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
  });

  it('changes a role, ends that operator’s sessions and audits old and new role', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    const updated = value(await call(officer.client, 'admin:updateRole', { operatorId: clerk.id, role: 'support' }));
    expect(updated).toMatchObject({ role: 'support' });
    expect(await call(clerk.client, 'dashboard:summary', {})).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED' },
    });
    const row = (await auditRows(t.ws)).find((r) => r.action === 'admin.updateRole');
    expect(JSON.parse(row?.details ?? '{}')).toEqual({ from: 'clerk', to: 'support', endedSessions: 1 });
  });

  it('keeps the last enabled security officer, even when another desk disabled the caller meanwhile', async () => {
    const second = await addOperator(t.ws, 'security_officer');
    // Another desk on the same database file (scale-out path): its own services and its own sessions,
    // so the officer's session here outlives the change made there.
    const audit = new AuditService(t.ws.db);
    const policies = new DbPolicySource(t.ws.db);
    const sessions = new SessionStore(() => 60_000);
    const operators = new SqliteOperatorRepository(t.ws.db, audit);
    const auth = new AuthService(operators, sessions, audit, policies);
    const dualControl2 = new DualControlService(auth, audit, policies);
    const desk2 = new AdminService(operators, sessions, audit, dualControl2);
    const secondSession = sessions.set('d2', {
      operatorId: second.id,
      username: second.username,
      displayName: 'Second',
      role: 'security_officer',
      mustChangePassword: false,
    });
    // Disabling a security officer needs a second officer: here the one being disabled agrees.
    const { challenge } = dualControl2.begin(secondSession, 'operator.privileged');
    await desk2.disable(secondSession, officer.id, {
      username: OFFICER.username,
      password: OFFICER.password,
      challenge,
    });
    // The disabled officer is refused at this desk on their next call (the router reads their row)…
    expect(await call(officer.client, 'admin:disableOperator', { operatorId: second.id })).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED', message: expect.stringContaining('disabled') as unknown },
    });
    // …and a desk acting on their stale session still keeps the last enabled security officer.
    const stale = sessions.set('d1', {
      operatorId: officer.id,
      username: OFFICER.username,
      displayName: 'Officer',
      role: 'security_officer',
      mustChangePassword: false,
    });
    await expect(desk2.disable(stale, second.id)).rejects.toMatchObject({ code: 'LAST_SECURITY_OFFICER' });
    await expect(desk2.updateRole(stale, second.id, 'manager')).rejects.toMatchObject({
      code: 'LAST_SECURITY_OFFICER',
    });
    const enabled = t.ws.db
      .prepare("SELECT count(*) AS n FROM operators WHERE role = 'security_officer' AND disabled_at IS NULL")
      .get();
    expect(enabled).toEqual({ n: 1 });
  });

  it('resets a password: sessions end, the operator must change it, the old one is gone', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    const reset = value(
      await call(officer.client, 'admin:resetPassword', {
        operatorId: clerk.id,
        temporaryPassword: 'temporary password 9',
      }),
    );
    expect(reset).toMatchObject({ mustChangePassword: true });
    expect(await call(clerk.client, 'dashboard:summary', {})).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED' },
    });
    expect(await call('x', 'auth:signIn', { username: clerk.username, password: clerk.password })).toMatchObject({
      ok: false,
      error: { code: 'AUTH_FAILED' },
    });
    const session = value(
      await call('x', 'auth:signIn', { username: clerk.username, password: 'temporary password 9' }),
    );
    expect(session).toMatchObject({ mustChangePassword: true });
    expect(await call('x', 'dashboard:summary', {})).toMatchObject({
      ok: false,
      error: { code: 'PASSWORD_CHANGE_REQUIRED' },
    });
    expect(
      await call(officer.client, 'admin:resetPassword', {
        operatorId: officer.id,
        temporaryPassword: 'temporary password 9',
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'SELF_CHANGE' },
    });
  });

  it('a disabled operator is signed out and cannot sign in until enabled again', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    value(await call(officer.client, 'admin:disableOperator', { operatorId: clerk.id }));
    expect(await call(clerk.client, 'dashboard:summary', {})).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED' },
    });
    // The sign-in screen gives the one answer for every refusal; the audit keeps the real reason.
    expect(await call('x', 'auth:signIn', { username: clerk.username, password: clerk.password })).toMatchObject({
      ok: false,
      error: { code: 'AUTH_FAILED' },
    });
    expect((await auditRows(t.ws)).at(-1)).toMatchObject({
      action: 'auth.signIn',
      outcome: 'denied',
      operator: clerk.username,
    });
    expect(JSON.parse((await auditRows(t.ws)).at(-1)?.details ?? '{}')).toMatchObject({ reason: 'disabled' });
    expect(await call(officer.client, 'admin:disableOperator', { operatorId: officer.id })).toMatchObject({
      ok: false,
      error: { code: 'SELF_CHANGE' },
    });
    value(await call(officer.client, 'admin:enableOperator', { operatorId: clerk.id }));
    value(await call('x', 'auth:signIn', { username: clerk.username, password: clerk.password }));
  });

  it('an operator re-roled, locked or reset at another desk on the same file is signed out here on their next call', async () => {
    // Another desk: its own repository and audit over the same file; this desk's sessions are untouched by it.
    const elsewhere = new SqliteOperatorRepository(t.ws.db, new AuditService(t.ws.db));
    const changes = [
      ['role', { role: 'support' }, 'role-changed', 'changed your role'],
      ['lock', { locked_until: Date.now() + 60_000, locked_at: new Date().toISOString() }, 'locked', 'locked'],
      ['reset', { password_set_by: officer.id, password_set_at: new Date().toISOString() }, 'password-reset', 'reset'],
    ] as const;
    for (const [what, fields, reason, says] of changes) {
      const clerk = await addOperator(t.ws, 'clerk', `moved-${what}`);
      expect(await call(clerk.client, 'dashboard:summary', {})).toMatchObject({ ok: true });
      await elsewhere.change(clerk.id, () => ({ fields, entries: [] }));
      expect(await call(clerk.client, 'dashboard:summary', {})).toMatchObject({
        ok: false,
        error: { code: 'AUTH_REQUIRED', message: expect.stringContaining(says) as unknown },
      });
      const ended = (await auditRows(t.ws)).filter(
        (r) => r.action === 'auth.sessionEnded' && r.operator === clerk.username,
      );
      expect(ended.map((r) => JSON.parse(r.details) as unknown)).toEqual([{ reason }]);
    }
    // An unchanged operator's calls go on, the row read each time.
    const steady = await addOperator(t.ws, 'clerk', 'steady');
    for (let i = 0; i < 3; i++) expect(await call(steady.client, 'dashboard:summary', {})).toMatchObject({ ok: true });
  });

  it('a session opened before a disable and re-enable is refused afterwards, here and at another desk on the file; a fresh sign-in works', async () => {
    // This desk, two sessions of one clerk: the disable ends both, the enable revives neither.
    const clerk = await addOperator(t.ws, 'clerk', 'cycled-here');
    value(await call('second-window', 'auth:signIn', { username: clerk.username, password: clerk.password }));
    value(await call(officer.client, 'admin:disableOperator', { operatorId: clerk.id }));
    value(await call(officer.client, 'admin:enableOperator', { operatorId: clerk.id }));
    for (const client of [clerk.client, 'second-window'])
      expect(await call(client, 'dashboard:summary', {})).toMatchObject({
        ok: false,
        error: { code: 'AUTH_REQUIRED' },
      });
    value(await call('third-window', 'auth:signIn', { username: clerk.username, password: clerk.password }));
    expect(await call('third-window', 'dashboard:summary', {})).toMatchObject({ ok: true });

    // Another desk on the same file disables and re-enables (so this desk's sessions are untouched
    // by it, and the row looks as before): the session epoch it moved on ends the one here.
    const elsewhere = new SqliteOperatorRepository(t.ws.db, new AuditService(t.ws.db));
    const other = await addOperator(t.ws, 'clerk', 'cycled-there');
    expect(await call(other.client, 'dashboard:summary', {})).toMatchObject({ ok: true });
    const before = (await elsewhere.byId(other.id))?.session_epoch ?? -1;
    await elsewhere.change(other.id, () => ({ fields: { disabled_at: new Date().toISOString() }, entries: [] }));
    await elsewhere.change(other.id, () => ({ fields: { disabled_at: null }, entries: [] }));
    expect((await elsewhere.byId(other.id))?.session_epoch).toBe(before + 2);
    expect(await call(other.client, 'dashboard:summary', {})).toMatchObject({
      ok: false,
      error: { code: 'AUTH_REQUIRED', message: expect.stringContaining('since you signed in') as unknown },
    });
    const ended = (await auditRows(t.ws)).filter(
      (r) => r.action === 'auth.sessionEnded' && r.operator === other.username,
    );
    expect(ended.map((r) => JSON.parse(r.details) as unknown)).toEqual([{ reason: 'account-changed' }]);
    value(await call('other-again', 'auth:signIn', { username: other.username, password: other.password }));
    expect(await call('other-again', 'dashboard:summary', {})).toMatchObject({ ok: true });
  });

  it('lists operators with their state, for security officers only', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    const list = value(await call(officer.client, 'admin:listOperators', {})) as {
      operators: { username: string; role: string; disabled: boolean }[];
    };
    expect(list.operators.map((o) => [o.username, o.role, o.disabled])).toEqual([
      [clerk.username, 'clerk', false],
      [OFFICER.username, 'security_officer', false],
    ]);
    expect(await call(clerk.client, 'admin:listOperators', {})).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
  });
});

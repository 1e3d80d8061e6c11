import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrations } from '../../../src/core/db/migrations';
import { freshSqliteWorkstation, OFFICER } from '../../support/fresh-workstation';

describe('auth through the router', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  beforeEach(() => {
    t = freshSqliteWorkstation();
  });
  afterEach(() => t.dispose());

  it('first run creates the security officer once, then refuses', async () => {
    const status = await t.ws.router.dispatch('c1', 'auth:status', {});
    expect(status).toEqual({ ok: true, value: { firstRun: true, session: null } });
    const made = await t.ws.router.dispatch('c1', 'auth:setupFirstOfficer', OFFICER);
    expect(made.ok && made.value).toMatchObject({ username: 'sofia', role: 'security_officer' });
    const again = await t.ws.router.dispatch('c2', 'auth:setupFirstOfficer', { ...OFFICER, username: 'mallory' });
    expect(again).toMatchObject({ ok: false, error: { code: 'SETUP_DONE' } });
  });

  it('signs in, keeps sessions per client, signs out', async () => {
    await t.ws.router.dispatch('c1', 'auth:setupFirstOfficer', OFFICER);
    expect(await t.ws.router.dispatch('c2', 'system:info', {})).toMatchObject({ error: { code: 'AUTH_REQUIRED' } });
    const signed = await t.ws.router.dispatch('c2', 'auth:signIn', { username: 'SOFIA', password: OFFICER.password });
    expect(signed.ok).toBe(true);
    expect(await t.ws.router.dispatch('c2', 'system:info', {})).toMatchObject({
      ok: true,
      value: { schemaVersion: Math.max(...migrations.map((m) => m.version)) },
    });
    await t.ws.router.dispatch('c2', 'auth:signOut', {});
    expect(await t.ws.router.dispatch('c2', 'system:info', {})).toMatchObject({ error: { code: 'AUTH_REQUIRED' } });
    const actions = t.ws.db.prepare('SELECT action, outcome FROM audit_log ORDER BY seq').all();
    expect(actions).toEqual([
      { action: 'auth.setupFirstOfficer', outcome: 'ok' },
      { action: 'auth.signIn', outcome: 'ok' },
      { action: 'auth.signOut', outcome: 'ok' },
    ]);
  });

  it('locks the account after the configured number of wrong passwords', async () => {
    await t.ws.router.dispatch('c1', 'auth:setupFirstOfficer', OFFICER);
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await t.ws.router.dispatch('c2', 'auth:signIn', { username: 'sofia', password: 'wrong' });
      if (!r.ok) codes.push(r.error.code);
    }
    // One answer for every refusal: the screen does not say when the account locked.
    expect(codes).toEqual(Array(6).fill('AUTH_FAILED'));
    const right = await t.ws.router.dispatch('c2', 'auth:signIn', { username: 'sofia', password: OFFICER.password });
    expect(right).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
    const row = t.ws.db.prepare('SELECT failed_attempts, locked_until FROM operators WHERE username = ?').get('sofia');
    expect(row).toMatchObject({ failed_attempts: 5, locked_until: expect.any(Number) as number });
    const lockouts = t.ws.db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'auth.lockout'").get();
    expect(lockouts).toEqual({ n: 1 });
  });

  it('never echoes the password in an error', async () => {
    await t.ws.router.dispatch('c1', 'auth:setupFirstOfficer', OFFICER);
    const r = await t.ws.router.dispatch('c2', 'auth:signIn', { username: 'sofia', password: 'hunter2-secret' });
    expect(JSON.stringify(r)).not.toContain('hunter2');
  });
});

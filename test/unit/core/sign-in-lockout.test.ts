import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SIGN_IN_FAILED } from '../../../src/core/auth/auth.service';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy-values';
import { freshSqliteWorkstation, OFFICER } from '../../support/fresh-workstation';
import { addOperator, approvalFor, auditRows, setupOfficer, value } from '../../support/operators';

const LIMIT = DEFAULT_POLICIES.maxFailedSignIns;
const MINUTE = 60_000;

interface LockRow {
  failed_attempts: number;
  locked_until: number | null;
  lockout_count: number;
}

// Every attempt spends a real scrypt check (about 80 ms), so these take seconds, more on a busy machine.
describe('sign-in lockout under attack', { timeout: 60_000 }, () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  const clock = { now: Date.parse('2026-12-01T09:00:00Z') };
  beforeEach(async () => {
    clock.now = Date.parse('2026-12-01T09:00:00Z');
    t = freshSqliteWorkstation({ now: () => clock.now });
    await setupOfficer(t.ws);
  });
  afterEach(() => t.dispose());

  const signIn = (client: string, username: string, password: string) =>
    t.ws.router.dispatch(client, 'auth:signIn', { username, password });
  const row = (username: string) =>
    t.ws.db
      .prepare('SELECT failed_attempts, locked_until, lockout_count FROM operators WHERE username = ?')
      .get(username) as LockRow;
  const lockouts = async () => (await auditRows(t.ws)).filter((r) => r.action === 'auth.lockout');
  const lastReason = async () => JSON.parse((await auditRows(t.ws)).at(-1)?.details ?? '{}') as { reason?: string };

  it.each([
    ['200 different clients', (i: number) => `attacker-${i}`],
    ['one client', () => 'attacker'],
  ])(
    '200 concurrent wrong passwords from %s lock at exactly the limit, and the right one is then refused',
    async (_label, client) => {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => signIn(client(i), OFFICER.username, `wrong guess ${i}`)),
      );
      expect(results.every((r) => !r.ok && r.error.code === 'AUTH_FAILED')).toBe(true);
      expect(row(OFFICER.username)).toMatchObject({ failed_attempts: LIMIT, lockout_count: 1 });
      expect(row(OFFICER.username).locked_until).toBe(clock.now + DEFAULT_POLICIES.lockoutMinutes * MINUTE);
      expect(await lockouts()).toHaveLength(1);
      const counted = (await auditRows(t.ws)).filter(
        (r) => r.action === 'auth.signIn' && (JSON.parse(r.details) as { reason?: string }).reason === 'wrong-password',
      );
      expect(counted).toHaveLength(LIMIT);

      // Past the throttle's wait, the right password reaches the account and the lockout refuses it.
      clock.now += 5 * MINUTE;
      const right = await signIn('officer-elsewhere', OFFICER.username, OFFICER.password);
      expect(right).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      expect((await lastReason()).reason).toBe('locked');
      expect(await t.ws.router.dispatch('officer-elsewhere', 'auth:status', {})).toMatchObject({
        ok: true,
        value: { session: null },
      });
      expect(row(OFFICER.username)).toMatchObject({ failed_attempts: LIMIT, lockout_count: 1 });
    },
  );

  it('refuses a right password for an account locked while the password was being checked', async () => {
    const pending = signIn('desk', OFFICER.username, OFFICER.password);
    // The lockout lands after the row was first read, while scrypt runs.
    t.ws.db
      .prepare('UPDATE operators SET locked_until = ?, failed_attempts = ? WHERE username = ?')
      .run(clock.now + MINUTE, LIMIT, OFFICER.username);
    expect(await pending).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
    expect((await lastReason()).reason).toBe('locked');
    expect(await t.ws.router.dispatch('desk', 'auth:status', {})).toMatchObject({ ok: true, value: { session: null } });
  });

  it('answers unknown, wrong, locked and disabled with the same code and message; the audit keeps the reason', async () => {
    const locked = await addOperator(t.ws, 'manager');
    for (let i = 0; i < LIMIT; i++) await signIn('elsewhere', locked.username, 'wrong');
    const disabled = await addOperator(t.ws, 'clerk');
    value(await t.ws.router.dispatch('officer-desk', 'admin:disableOperator', { operatorId: disabled.id }));

    const answers: [string, unknown][] = [];
    const reasons: (string | undefined)[] = [];
    for (const [client, username, password] of [
      ['c1', 'nobody-here', 'whatever password'],
      ['c2', OFFICER.username, 'wrong password'],
      ['c3', locked.username, locked.password],
      ['c4', disabled.username, disabled.password],
    ] as const) {
      answers.push([username, await signIn(client, username, password)]);
      reasons.push((await lastReason()).reason);
    }
    for (const [, answer] of answers) {
      expect(answer).toEqual({ ok: false, error: { code: 'AUTH_FAILED', message: SIGN_IN_FAILED } });
    }
    expect(reasons).toEqual(['unknown-user', 'wrong-password', 'locked', 'disabled']);
    expect(SIGN_IN_FAILED).not.toMatch(/attempt|\d/);
  });

  it('spends the same time on an unknown or locked user name as on a wrong password', async () => {
    const locked = await addOperator(t.ws, 'manager');
    for (let i = 0; i < LIMIT; i++) await signIn('elsewhere', locked.username, 'wrong');
    const clerk = await addOperator(t.ws, 'clerk');
    const timed = async (client: string, username: string, password: string) => {
      const start = performance.now();
      const r = await signIn(client, username, password);
      expect(r.ok).toBe(false);
      return performance.now() - start;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const wrong: number[] = [];
    const unknown: number[] = [];
    const lockedTimes: number[] = [];
    // Interleaved, so a busy machine slows all three alike; two users share the wrong passwords so
    // neither reaches the lockout.
    for (let i = 0; i < 2 * (LIMIT - 1); i++) {
      wrong.push(await timed(`w${i}`, i % 2 ? OFFICER.username : clerk.username, `wrong ${i}`));
      unknown.push(await timed(`u${i}`, `ghost-${i}`, `wrong ${i}`));
      lockedTimes.push(await timed(`l${i}`, locked.username, locked.password));
    }
    // Before the fix a locked account answered in under 2 ms against about 80 ms.
    expect(median(wrong)).toBeGreaterThan(10);
    expect(median(unknown)).toBeGreaterThan(median(wrong) / 2);
    expect(median(lockedTimes)).toBeGreaterThan(median(wrong) / 2);
  });

  it('a lockout ends after the policy time, and the next one lasts twice as long', async () => {
    const start = clock.now;
    for (let i = 0; i < LIMIT; i++) await signIn('desk', OFFICER.username, 'wrong');
    expect(row(OFFICER.username)).toMatchObject({ locked_until: start + 15 * MINUTE, lockout_count: 1 });
    clock.now = start + 14 * MINUTE;
    expect(await signIn('desk', OFFICER.username, OFFICER.password)).toMatchObject({ ok: false });

    // Expired: a fresh count of tries, and this lockout lasts 30 minutes.
    clock.now = start + 30 * MINUTE;
    for (let i = 0; i < LIMIT - 1; i++) await signIn('desk', OFFICER.username, 'wrong');
    expect(row(OFFICER.username)).toMatchObject({ failed_attempts: LIMIT - 1, locked_until: null });
    await signIn('desk', OFFICER.username, 'wrong');
    expect(row(OFFICER.username)).toMatchObject({
      failed_attempts: LIMIT,
      lockout_count: 2,
      locked_until: clock.now + 30 * MINUTE,
    });
    expect(await lockouts()).toHaveLength(2);
    const second = clock.now;
    clock.now = second + 29 * MINUTE;
    expect(await signIn('desk-2', OFFICER.username, OFFICER.password)).toMatchObject({ ok: false });
    expect((await lastReason()).reason).toBe('locked');

    clock.now = second + 30 * MINUTE;
    value(await signIn('desk-2', OFFICER.username, OFFICER.password));
    expect(row(OFFICER.username)).toEqual({ failed_attempts: 0, locked_until: null, lockout_count: 0 });
  });

  it('concurrent wrong approver passwords lock the approver at exactly the limit too', async () => {
    const approver = await addOperator(t.ws, 'security_officer');
    const clerk = await addOperator(t.ws, 'clerk');
    for (let i = 0; i < LIMIT; i++) await signIn('desk', clerk.username, 'wrong');
    // Each approval needs a challenge of its own, and a session holds a few at a time: the officer
    // signs in on five windows and takes eight from each, so 40 guesses go in at once.
    const windows = ['officer-desk', 'officer-2', 'officer-3', 'officer-4', 'officer-5'];
    for (const w of windows.slice(1)) value(await signIn(w, OFFICER.username, OFFICER.password));
    const guesses: { window: string; approval: Awaited<ReturnType<typeof approvalFor>> }[] = [];
    for (const w of windows) {
      for (let j = 0; j < 8; j++) {
        const wrong = { username: approver.username, password: `wrong ${guesses.length}` };
        guesses.push({ window: w, approval: await approvalFor(t.ws, w, 'operator.unlock', wrong) });
      }
    }
    const results = await Promise.all(
      guesses.map((g) =>
        t.ws.router.dispatch(g.window, 'admin:unlockOperator', { username: clerk.username, approval: g.approval }),
      ),
    );
    expect(results.filter((r) => !r.ok && r.error.code === 'VALIDATION')).toEqual([]);
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(row(approver.username)).toMatchObject({ failed_attempts: LIMIT, lockout_count: 1 });
    expect((await lockouts()).filter((r) => r.operator === approver.username)).toHaveLength(1);
    expect(row(clerk.username).locked_until).not.toBeNull();
  });

  it('takes the lockout time from the policy in force', async () => {
    const second = await addOperator(t.ws, 'security_officer');
    const policies = { ...DEFAULT_POLICIES, lockoutMinutes: 5, lockoutMaxMinutes: 60 };
    value(
      await t.ws.router.dispatch('officer-desk', 'policy:update', {
        baseVersion: 0,
        policies,
        approval: await approvalFor(t.ws, 'officer-desk', 'policy.update', second),
      }),
    );
    const clerk = await addOperator(t.ws, 'clerk');
    for (let i = 0; i < LIMIT; i++) await signIn('desk', clerk.username, 'wrong');
    expect(row(clerk.username).locked_until).toBe(clock.now + 5 * MINUTE);
  });

  it('caps the growing lockout at the policy maximum', async () => {
    t.ws.db.prepare('UPDATE operators SET lockout_count = 30 WHERE username = ?').run(OFFICER.username);
    for (let i = 0; i < LIMIT; i++) await signIn('desk', OFFICER.username, 'wrong');
    expect(row(OFFICER.username).locked_until).toBe(clock.now + DEFAULT_POLICIES.lockoutMaxMinutes * MINUTE);
  });
});

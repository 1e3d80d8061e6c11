import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../../src/shared/roles';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { addOperator, setupOfficer, value, type TestOperator } from '../../support/operators';

// The dashboard used to hand the last audit rows to every role, clerks included, while
// audit:query refused them. Each role now gets audit figures exactly when audit:query answers it.
describe('dashboard:summary shows audit figures only to roles that may read the audit', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  const byRole = new Map<Role, TestOperator>();

  beforeAll(async () => {
    t = freshSqliteWorkstation();
    byRole.set('security_officer', await setupOfficer(t.ws));
    for (const role of ROLES) if (!byRole.has(role)) byRole.set(role, await addOperator(t.ws, role));
    // A failed sign-in, so there is something worth hiding in the recent rows.
    await t.ws.router.dispatch('stranger', 'auth:signIn', {
      username: byRole.get('auditor')!.username,
      password: 'wrong password here',
    });
  }, 60_000); // five operators' password hashing: generous, so a loaded machine does not fail it
  afterAll(() => t.dispose());

  for (const role of ROLES) {
    it(`as ${role}: the same answer as audit:query`, async () => {
      const op = byRole.get(role)!;
      const query = await t.ws.router.dispatch(op.client, 'audit:query', {});
      const summary = value(await t.ws.router.dispatch(op.client, 'dashboard:summary', {})) as Record<
        string,
        unknown
      > & {
        audit?: { entriesToday: number; failedSignInsToday: number; recent: { action: string }[] };
      };
      expect(summary.operators).toBe(ROLES.length);
      if (query.ok) {
        expect(summary.audit?.recent.length).toBeGreaterThan(0);
        expect(summary.audit?.failedSignInsToday).toBeGreaterThan(0);
      } else {
        expect(query.error.code).toBe('FORBIDDEN');
        expect(summary.audit).toBeUndefined();
        // Nothing read from the audit trail leaks under another name.
        expect(Object.keys(summary).sort()).toEqual(['lockedOperators', 'operators']);
        expect(JSON.stringify(summary)).not.toMatch(/auth\.|admin\.|access\./);
      }
    });
  }

  it('answers clerk and support without audit figures, and auditor, manager and officer with them', async () => {
    const has = async (role: Role) =>
      'audit' in (value(await t.ws.router.dispatch(byRole.get(role)!.client, 'dashboard:summary', {})) as object);
    expect(await has('clerk')).toBe(false);
    expect(await has('support')).toBe(false);
    expect(await has('auditor')).toBe(true);
    expect(await has('manager')).toBe(true);
    expect(await has('security_officer')).toBe(true);
  });
});

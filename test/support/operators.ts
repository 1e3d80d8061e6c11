import type { Role } from '../../src/shared/roles';
import type { Result } from '../../src/shared/contract';
import type { Workstation } from '../../src/core/workstation';
import { OFFICER } from './fresh-workstation';

export const OFFICER_CLIENT = 'officer-desk';

export interface TestOperator {
  readonly id: number;
  readonly username: string;
  readonly password: string;
  readonly role: Role;
  /** The client this operator is signed in on. */
  readonly client: string;
}

/** The value of a successful call; fails the test with the error code otherwise. */
export function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`call failed: ${r.error.code}: ${r.error.message}`);
  return r.value;
}

/** First run: the initial security officer, signed in on OFFICER_CLIENT. */
export async function setupOfficer(ws: Workstation): Promise<TestOperator> {
  const s = value(await ws.router.dispatch(OFFICER_CLIENT, 'auth:setupFirstOfficer', OFFICER)) as { operatorId: number };
  return { id: s.operatorId, username: OFFICER.username, password: OFFICER.password, role: 'security_officer', client: OFFICER_CLIENT };
}

let serial = 0;

/**
 * Creates an operator through the officer's admin channel, signs them in on their own client and
 * does the forced password change, so they are ready to work.
 */
export async function addOperator(ws: Workstation, role: Role, username = `${role.replace('_', '')}${++serial}`): Promise<TestOperator> {
  const temporary = `temporary-password-${username}`;
  const password = `settled-password-${username}`;
  const made = value(
    await ws.router.dispatch(OFFICER_CLIENT, 'admin:createOperator', {
      username,
      displayName: `Test ${role}`,
      role,
      temporaryPassword: temporary,
    }),
  ) as { id: number };
  const client = `desk-${username}`;
  value(await ws.router.dispatch(client, 'auth:signIn', { username, password: temporary }));
  value(await ws.router.dispatch(client, 'auth:changePassword', { currentPassword: temporary, newPassword: password }));
  return { id: made.id, username, password, role, client };
}

export const approvalOf = (op: TestOperator) => ({ username: op.username, password: op.password });

export function auditRows(ws: Workstation): { seq: number; action: string; outcome: string; operator: string | null; object: string | null; details: string }[] {
  return ws.db.prepare('SELECT seq, action, outcome, operator, object, details FROM audit_log ORDER BY seq').all() as ReturnType<
    typeof auditRows
  >;
}

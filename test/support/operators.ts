import type { DualControlAction } from '../../src/shared/contract/policy.contract';
import type { Role } from '../../src/shared/roles';
import type { Result } from '../../src/shared/contract';
import type { DeskWorkstation } from '../../src/core/workstation';
import type { AuditEntryInput } from '../../src/core/audit/audit.service';
import { deskSql } from './test-engine';
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
export async function setupOfficer(ws: DeskWorkstation): Promise<TestOperator> {
  const s = value(await ws.router.dispatch(OFFICER_CLIENT, 'auth:setupFirstOfficer', OFFICER)) as {
    operatorId: number;
  };
  return {
    id: s.operatorId,
    username: OFFICER.username,
    password: OFFICER.password,
    role: 'security_officer',
    client: OFFICER_CLIENT,
  };
}

let serial = 0;

// Security officers addOperator made per workstation, ready to approve the first officer's actions.
const officersOf = new WeakMap<DeskWorkstation, TestOperator[]>();

/**
 * Creates an operator through the officer's admin channel, signs them in on their own client and
 * does the forced password change, so they are ready to work (and, as a real second officer would
 * be, to approve: never with the temporary password). A manager or security officer made once a
 * second officer exists needs that officer's approval; the first such officer made here gives it.
 */
export async function addOperator(
  ws: DeskWorkstation,
  role: Role,
  username = `${role.replace('_', '')}${++serial}`,
): Promise<TestOperator> {
  const temporary = `temporary-password-${username}`;
  const password = `settled-password-${username}`;
  const input = { username, displayName: `Test ${role}`, role, temporaryPassword: temporary };
  let made = await ws.router.dispatch(OFFICER_CLIENT, 'admin:createOperator', input);
  const approver = officersOf.get(ws)?.[0];
  if (!made.ok && made.error.code === 'APPROVAL_REQUIRED' && approver) {
    const approval = await approvalFor(ws, OFFICER_CLIENT, 'operator.privileged', approver);
    made = await ws.router.dispatch(OFFICER_CLIENT, 'admin:createOperator', { ...input, approval });
  }
  const { id } = value(made) as { id: number };
  const client = `desk-${username}`;
  value(await ws.router.dispatch(client, 'auth:signIn', { username, password: temporary }));
  value(await ws.router.dispatch(client, 'auth:changePassword', { currentPassword: temporary, newPassword: password }));
  const op: TestOperator = { id, username, password, role, client };
  if (role === 'security_officer') officersOf.set(ws, [...(officersOf.get(ws) ?? []), op]);
  return op;
}

/** An operator's credentials (for auth:signIn, or an approval's user name and password). */
export const approvalOf = (op: TestOperator) => ({ username: op.username, password: op.password });

/**
 * What the approval dialog sends: `approver`'s credentials with a fresh challenge the initiator's
 * session took for `action` (approval:begin). Good for exactly one call.
 */
export async function approvalFor(
  ws: DeskWorkstation,
  initiator: TestOperator | string,
  action: DualControlAction,
  approver: { username: string; password: string },
): Promise<{ username: string; password: string; challenge: string }> {
  const client = typeof initiator === 'string' ? initiator : initiator.client;
  const { challenge } = value(await ws.router.dispatch(client, 'approval:begin', { action })) as { challenge: string };
  return { username: approver.username, password: approver.password, challenge };
}

/** A well-formed approval whose challenge was never issued: for calls refused before any approval is read. */
export const unissuedApproval = (op: TestOperator) => ({ ...approvalOf(op), challenge: 'never-issued-challenge-0000' });

export type TestAuditRow = {
  seq: number;
  action: string;
  outcome: string;
  operator: string | null;
  object: string | null;
  details: string;
};

export async function auditRows(ws: DeskWorkstation): Promise<TestAuditRow[]> {
  return deskSql(ws).all<TestAuditRow>(
    'SELECT seq, action, outcome, operator, object, details FROM audit_log ORDER BY seq',
  );
}

/** An entry a repository test appends with its change (a security officer's, no operator id). */
export const auditEntry = (action: string, outcome: AuditEntryInput['outcome'] = 'ok'): AuditEntryInput => ({
  operatorId: null,
  operator: 'sofia',
  role: 'security_officer',
  action,
  outcome,
});

import type { OperatorInfo } from '../../shared/contract/admin.contract';
import type { Approval } from '../../shared/contract/approval.contract';
import { ROLE_LABELS, type Role } from '../../shared/roles';
import type { AuditDetails, AuditEntryInput, AuditTrail } from '../audit/audit.service';
import { hashPassword } from '../auth/password-hash';
import { ranksAtLeast } from '../auth/role-rank';
import type {
  OperatorFields,
  OperatorRepository,
  OperatorRow,
  OperatorWriteContext,
} from '../auth/operator.repository';
import type { Session, SessionStore } from '../auth/session.store';
import type { DualControlService } from '../dual-control/dual-control.service';
import { AppError, isAppError } from '../errors';

/**
 * Operator administration by a security officer. Rules: nobody changes their own role or disables
 * themselves, the last enabled security officer stays, and a changed operator's sessions end so the
 * change holds from the next call on. Every change is audited.
 */
export class AdminService {
  constructor(
    private readonly operators: OperatorRepository,
    private readonly sessions: SessionStore,
    private readonly audit: AuditTrail,
    private readonly dualControl: DualControlService,
    /** Milliseconds since the epoch, the same clock the lockout is written with. */
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<OperatorInfo[]> {
    return (await this.operators.all()).map((op) => toInfo(op, this.now()));
  }

  async create(
    by: Session,
    input: {
      username: string;
      displayName: string;
      role: Role;
      temporaryPassword: string;
      approval?: Approval | undefined;
    },
  ): Promise<OperatorInfo> {
    const { approval, ...fields } = input;
    const taken = (yes: boolean) => {
      if (yes) throw new AppError('OPERATOR_EXISTS', `The user name ${fields.username} is taken. Choose another.`);
    };
    taken((await this.operators.byUsername(fields.username)) !== undefined);
    const privileged = isPrivileged(fields.role);
    const approved = privileged
      ? await this.approvePrivileged(by, approval, { channel: 'admin:createOperator', ...input })
      : {};
    const hash = await hashPassword(fields.temporaryPassword);
    const made = await this.auditLateRefusal(by, 'admin:createOperator', () =>
      this.operators.create({ ...fields, passwordHash: hash, mustChange: true, setBy: by.operatorId }, (ctx) => {
        stillOfficer(by, ctx);
        taken(ctx.taken);
        if (privileged) this.stillApproved(by, approved, ctx);
        return [this.entry(by, 'admin.createOperator', fields.username, { role: fields.role, ...approved })];
      }),
    );
    return toInfo(made, this.now());
  }

  updateRole(by: Session, operatorId: number, role: Role, approval?: Approval): Promise<OperatorInfo> {
    return this.change(by, operatorId, 'admin.updateRole', {
      input: { channel: 'admin:updateRole', operatorId, role, approval },
      privileged: (op) => isPrivileged(op.role) || isPrivileged(role),
      check: (op, ctx) => {
        if (op.id === by.operatorId)
          throw new AppError('SELF_CHANGE', 'You cannot change your own role. Ask another security officer.');
        if (op.role === role) throw new AppError('NO_CHANGE', `${op.username} already has that role.`);
        if (op.role === 'security_officer') keepOneOfficer(op, ctx, 'change the role of');
      },
      apply: (op) => ({ fields: { role }, details: { from: op.role, to: role } }),
    });
  }

  disable(by: Session, operatorId: number, approval?: Approval): Promise<OperatorInfo> {
    return this.change(by, operatorId, 'admin.disableOperator', {
      input: { channel: 'admin:disableOperator', operatorId, approval },
      privileged: (op) => isPrivileged(op.role),
      check: (op, ctx) => {
        if (op.id === by.operatorId)
          throw new AppError('SELF_CHANGE', 'You cannot disable your own account. Ask another security officer.');
        if (op.disabled_at) throw new AppError('NO_CHANGE', `${op.username} is already disabled.`);
        if (op.role === 'security_officer') keepOneOfficer(op, ctx, 'disable');
      },
      apply: () => ({ fields: { disabled_at: new Date().toISOString() }, details: {} }),
    });
  }

  enable(by: Session, operatorId: number, approval?: Approval): Promise<OperatorInfo> {
    return this.change(by, operatorId, 'admin.enableOperator', {
      input: { channel: 'admin:enableOperator', operatorId, approval },
      privileged: (op) => isPrivileged(op.role),
      check: (op) => {
        if (!op.disabled_at) throw new AppError('NO_CHANGE', `${op.username} is not disabled.`);
      },
      apply: () => ({ fields: { disabled_at: null }, details: {} }),
    });
  }

  async resetPassword(
    by: Session,
    operatorId: number,
    temporaryPassword: string,
    approval?: Approval,
  ): Promise<OperatorInfo> {
    let hash: string | null = null;
    return this.change(by, operatorId, 'admin.resetPassword', {
      input: { channel: 'admin:resetPassword', operatorId, temporaryPassword, approval },
      privileged: (op) => isPrivileged(op.role),
      check: (op) => {
        if (op.id === by.operatorId) {
          throw new AppError('SELF_CHANGE', 'Change your own password from your account menu, not by a reset.');
        }
      },
      prepare: async () => {
        hash = await hashPassword(temporaryPassword);
      },
      apply: () => {
        if (!hash) throw new Error('password not hashed');
        // A reset does not unlock: unlocking needs a second approver.
        const fields: OperatorFields = {
          password_hash: hash,
          must_change_password: 1,
          password_set_by: by.operatorId,
          password_set_at: new Date().toISOString(),
        };
        return { fields, details: {} };
      },
    });
  }

  /**
   * Ends a lockout before its time. Both the initiator and the approver must rank at least as high as
   * the locked operator, so managers cannot let themselves into a security officer's account.
   */
  async unlock(
    by: Session,
    username: string,
    approval: Approval | undefined,
  ): Promise<{ username: string; approvedBy: string | null }> {
    const target = await this.operators.byUsername(username);
    if (!target)
      throw new AppError('OPERATOR_NOT_FOUND', `There is no operator named ${username}. Check the spelling.`);
    if (!this.isLocked(target)) throw new AppError('NOT_LOCKED', `${target.username} is not locked.`);
    const outranked = async (who: 'initiator' | 'approver', role: Role) => {
      await this.audit.append({
        operatorId: by.operatorId,
        operator: by.username,
        role: by.role,
        action: 'admin.unlockOperator',
        object: `operator:${target.username}`,
        outcome: 'denied',
        details: { reason: `${who}-outranked`, [`${who}Role`]: role, targetRole: target.role },
      });
      return new AppError(
        'UNLOCK_ROLE',
        `Only a ${ROLE_LABELS[target.role].toLowerCase()} or a higher role may unlock ${target.username}, and approve it. Ask a security officer.`,
      );
    };
    if (!ranksAtLeast(by.role, target.role)) throw await outranked('initiator', by.role);
    const approver = await this.dualControl.require('operator.unlock', by, approval, {
      channel: 'admin:unlockOperator',
      username,
    });
    if (approver && !ranksAtLeast(approver.role, target.role)) throw await outranked('approver', approver.role);
    await this.operators.change(target.id, (op) => {
      // Unlocked, or its lockout ended, at another desk meanwhile: nothing to do, nothing written.
      if (!op || !this.isLocked(op)) throw new AppError('NOT_LOCKED', `${target.username} is not locked.`);
      return {
        fields: { locked_at: null, locked_until: null, failed_attempts: 0 },
        entries: [this.entry(by, 'admin.unlockOperator', target.username, { approvedBy: approver?.username ?? null })],
      };
    });
    return { username: target.username, approvedBy: approver?.username ?? null };
  }

  private isLocked(op: OperatorRow): boolean {
    return op.locked_until !== null && op.locked_until > this.now();
  }

  /**
   * Applies one change: the rules are checked, then (for a manager's or security officer's account)
   * the second officer's approval, then, in one write transaction, the rules again, the change, its
   * audit entry, and the end of the target's sessions. A refusal at any step changes nothing.
   */
  private async change(by: Session, operatorId: number, action: string, step: ChangeStep): Promise<OperatorInfo> {
    const before = mustExist(await this.operators.byId(operatorId));
    step.check(before, { enabledOfficers: await this.operators.enabledOfficers() });
    const privileged = step.privileged(before);
    const approved = privileged ? await this.approvePrivileged(by, step.input.approval, step.input) : {};
    await step.prepare?.();
    // Sessions ended across runs of `decide` (PostgreSQL may run it again after a conflict).
    let ended = 0;
    const result = await this.auditLateRefusal(by, step.input.channel, () =>
      this.operators.change(operatorId, (row, ctx) => {
        const op = mustExist(row);
        stillOfficer(by, ctx);
        step.check(op, ctx);
        if (step.privileged(op)) this.stillApproved(by, approved, ctx);
        const { fields, details } = step.apply(op);
        ended += this.sessions.endOperator(op.id).length;
        return {
          fields,
          entries: [this.entry(by, action, op.username, { ...details, ...approved, endedSessions: ended })],
        };
      }),
    );
    return toInfo(result, this.now());
  }

  // A refusal thrown inside the transaction rolls back any audit entry written there, so it is audited here.
  private async auditLateRefusal<T>(by: Session, channel: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (isAppError(err) && err.code === 'APPROVAL_REQUIRED') {
        await this.audit.append({
          operatorId: by.operatorId,
          operator: by.username,
          role: by.role,
          action: 'dualControl.approve',
          object: 'operator.privileged',
          outcome: 'denied',
          details: { for: 'operator.privileged', initiator: by.username, channel, reason: 'approval-needed-now' },
        });
      }
      throw err;
    }
  }

  /**
   * A second security officer approves any change to a manager's or security officer's account.
   * The one exception is setting up the desk: while the initiator is the only enabled security
   * officer nobody could approve, so the change goes through and its audit entry says so.
   */
  private async approvePrivileged(by: Session, approval: Approval | undefined, input: object): Promise<Approved> {
    const enabledOfficers = await this.operators.enabledOfficers();
    if (otherEnabledOfficers(by, { enabledOfficers }) === 0) return { approvedBy: null, soleOfficer: true };
    const approver = await this.dualControl.require('operator.privileged', by, approval, input);
    return { approvedBy: approver?.username ?? null };
  }

  // Checked again in the transaction: the target may have become privileged, or another officer
  // enabled, while the approval was awaited.
  private stillApproved(by: Session, approved: Approved, ctx: OperatorWriteContext): void {
    const ok = approved.approvedBy ? true : approved.soleOfficer === true && otherEnabledOfficers(by, ctx) === 0;
    if (!ok) {
      throw new AppError(
        'APPROVAL_REQUIRED',
        'This change now needs a second security officer to approve. Try again and ask one to approve.',
      );
    }
  }

  private entry(by: Session, action: string, username: string, details: AuditDetails): AuditEntryInput {
    return {
      operatorId: by.operatorId,
      operator: by.username,
      role: by.role,
      action,
      object: `operator:${username}`,
      outcome: 'ok',
      details,
    };
  }
}

function mustExist(op: OperatorRow | undefined): OperatorRow {
  if (!op) throw new AppError('OPERATOR_NOT_FOUND', 'That operator no longer exists. Reload the list.');
  return op;
}

/**
 * The initiator is still an enabled security officer as the change commits: one disabled or re-roled
 * at another desk while this call ran (after the router's check) changes nothing. Operator
 * administration is for security officers only (admin.contract.ts), unlocking aside.
 */
function stillOfficer(by: Session, ctx: OperatorWriteContext): void {
  if (!ctx.enabledOfficers.includes(by.operatorId)) {
    throw new AppError(
      'AUTH_REQUIRED',
      'Your account was disabled or given another role at another desk while this ran; nothing was changed. Sign in again.',
    );
  }
}

function otherEnabledOfficers(by: Session, ctx: OperatorWriteContext): number {
  return ctx.enabledOfficers.filter((id) => id !== by.operatorId).length;
}

function keepOneOfficer(op: OperatorRow, ctx: OperatorWriteContext, verb: string): void {
  if (ctx.enabledOfficers.filter((id) => id !== op.id).length === 0) {
    throw new AppError(
      'LAST_SECURITY_OFFICER',
      `You cannot ${verb} ${op.username}: they are the last enabled security officer. Create another one first.`,
    );
  }
}

/** Accounts whose creation or change needs a second security officer (operator.privileged). */
const PRIVILEGED_ROLES: readonly Role[] = ['manager', 'security_officer'];
const isPrivileged = (role: Role) => PRIVILEGED_ROLES.includes(role);

type Approved = { approvedBy?: string | null; soleOfficer?: true };

interface ChangeStep {
  /** The call's input, bound into the approval's audit entry. */
  readonly input: { channel: string; approval?: Approval | undefined; [field: string]: unknown };
  readonly privileged: (op: OperatorRow) => boolean;
  /** Rules that refuse without a second person; checked before the approval and again in the transaction. */
  readonly check: (op: OperatorRow, ctx: OperatorWriteContext) => void;
  /** Slow work (hashing) after the approval, before the transaction. */
  readonly prepare?: () => Promise<void>;
  /** The fields to set and the details for the audit entry; no effects (it may run more than once). */
  readonly apply: (op: OperatorRow) => { fields: OperatorFields; details: AuditDetails };
}

function toInfo(op: OperatorRow, now: number): OperatorInfo {
  const locked = op.locked_until !== null && op.locked_until > now;
  return {
    id: op.id,
    username: op.username,
    displayName: op.display_name,
    role: op.role,
    locked,
    disabled: op.disabled_at !== null,
    mustChangePassword: op.must_change_password === 1,
    failedAttempts: op.failed_attempts,
    lockedAt: locked ? op.locked_at : null,
    disabledAt: op.disabled_at,
    createdAt: op.created_at,
    updatedAt: op.updated_at,
  };
}

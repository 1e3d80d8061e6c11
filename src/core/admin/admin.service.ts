import type { Database } from 'better-sqlite3';
import type { OperatorInfo } from '../../shared/contract/admin.contract';
import type { Approval } from '../../shared/contract/approval.contract';
import { ROLE_LABELS, type Role } from '../../shared/roles';
import type { AuditDetails, AuditService } from '../audit/audit.service';
import { hashPassword } from '../auth/password-hash';
import { ranksAtLeast } from '../auth/role-rank';
import { OperatorRepository, type OperatorRow } from '../auth/operator.repository';
import type { Session, SessionStore } from '../auth/session.store';
import type { DualControlService } from '../dual-control/dual-control.service';
import { AppError, isAppError } from '../errors';

/**
 * Operator administration by a security officer. Rules: nobody changes their own role or disables
 * themselves, the last enabled security officer stays, and a changed operator's sessions end so the
 * change holds from the next call on. Every change is audited.
 */
export class AdminService {
  private readonly operators: OperatorRepository;

  constructor(
    private readonly db: Database,
    private readonly sessions: SessionStore,
    private readonly audit: AuditService,
    private readonly dualControl: DualControlService,
    /** Milliseconds since the epoch, the same clock the lockout is written with. */
    private readonly now: () => number = Date.now,
  ) {
    this.operators = new OperatorRepository(db);
  }

  list(): OperatorInfo[] {
    return this.operators.all().map((op) => toInfo(op, this.now()));
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
    const taken = () => {
      if (this.operators.byUsername(fields.username)) {
        throw new AppError('OPERATOR_EXISTS', `The user name ${fields.username} is taken. Choose another.`);
      }
    };
    taken();
    const privileged = isPrivileged(fields.role);
    const approved = privileged
      ? await this.approvePrivileged(by, approval, { channel: 'admin:createOperator', ...input })
      : {};
    const hash = await hashPassword(fields.temporaryPassword);
    return this.auditLateRefusal(by, 'admin:createOperator', () =>
      this.db
        .transaction(() => {
          taken();
          if (privileged) this.stillApproved(by, approved);
          const id = this.operators.insert({ ...fields, passwordHash: hash, mustChange: true, setBy: by.operatorId });
          this.record(by, 'admin.createOperator', fields.username, { role: fields.role, ...approved });
          return toInfo(this.mustGet(id), this.now());
        })
        .immediate(),
    );
  }

  updateRole(by: Session, operatorId: number, role: Role, approval?: Approval): Promise<OperatorInfo> {
    return this.change(by, operatorId, 'admin.updateRole', {
      input: { channel: 'admin:updateRole', operatorId, role, approval },
      privileged: (op) => isPrivileged(op.role) || isPrivileged(role),
      check: (op) => {
        if (op.id === by.operatorId)
          throw new AppError('SELF_CHANGE', 'You cannot change your own role. Ask another security officer.');
        if (op.role === role) throw new AppError('NO_CHANGE', `${op.username} already has that role.`);
        if (op.role === 'security_officer') this.keepOneOfficer(op, 'change the role of');
      },
      apply: (op) => {
        this.operators.update(op.id, { role });
        return { from: op.role, to: role };
      },
    });
  }

  disable(by: Session, operatorId: number, approval?: Approval): Promise<OperatorInfo> {
    return this.change(by, operatorId, 'admin.disableOperator', {
      input: { channel: 'admin:disableOperator', operatorId, approval },
      privileged: (op) => isPrivileged(op.role),
      check: (op) => {
        if (op.id === by.operatorId)
          throw new AppError('SELF_CHANGE', 'You cannot disable your own account. Ask another security officer.');
        if (op.disabled_at) throw new AppError('NO_CHANGE', `${op.username} is already disabled.`);
        if (op.role === 'security_officer') this.keepOneOfficer(op, 'disable');
      },
      apply: (op) => {
        this.operators.update(op.id, { disabled_at: new Date().toISOString() });
        return {};
      },
    });
  }

  enable(by: Session, operatorId: number, approval?: Approval): Promise<OperatorInfo> {
    return this.change(by, operatorId, 'admin.enableOperator', {
      input: { channel: 'admin:enableOperator', operatorId, approval },
      privileged: (op) => isPrivileged(op.role),
      check: (op) => {
        if (!op.disabled_at) throw new AppError('NO_CHANGE', `${op.username} is not disabled.`);
      },
      apply: (op) => {
        this.operators.update(op.id, { disabled_at: null });
        return {};
      },
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
      apply: (op) => {
        if (!hash) throw new Error('password not hashed');
        // A reset does not unlock: unlocking needs a second approver.
        this.operators.setPassword(op.id, hash, by.operatorId);
        return {};
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
    const target = this.operators.byUsername(username);
    if (!target)
      throw new AppError('OPERATOR_NOT_FOUND', `There is no operator named ${username}. Check the spelling.`);
    if (!this.isLocked(target)) throw new AppError('NOT_LOCKED', `${target.username} is not locked.`);
    const outranked = (who: 'initiator' | 'approver', role: Role) => {
      this.audit.appendSync({
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
    if (!ranksAtLeast(by.role, target.role)) throw outranked('initiator', by.role);
    const approver = await this.dualControl.require('operator.unlock', by, approval, {
      channel: 'admin:unlockOperator',
      username,
    });
    if (approver && !ranksAtLeast(approver.role, target.role)) throw outranked('approver', approver.role);
    this.db.transaction(() => {
      this.operators.update(target.id, { locked_at: null, locked_until: null, failed_attempts: 0 });
      this.record(by, 'admin.unlockOperator', target.username, { approvedBy: approver?.username ?? null });
    })();
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
    const before = this.mustGet(operatorId);
    step.check(before);
    const privileged = step.privileged(before);
    const approved = privileged ? await this.approvePrivileged(by, step.input.approval, step.input) : {};
    await step.prepare?.();
    const result = this.auditLateRefusal(by, step.input.channel, () =>
      this.db
        .transaction(() => {
          const op = this.mustGet(operatorId);
          step.check(op);
          if (step.privileged(op)) this.stillApproved(by, approved);
          const details = step.apply(op);
          const ended = this.sessions.endOperator(op.id).length;
          this.record(by, action, op.username, { ...details, ...approved, endedSessions: ended });
          return this.mustGet(op.id);
        })
        .immediate(),
    );
    return toInfo(result, this.now());
  }

  // A refusal thrown inside the transaction rolls back any audit entry written there, so it is audited here.
  private auditLateRefusal<T>(by: Session, channel: string, run: () => T): T {
    try {
      return run();
    } catch (err) {
      if (isAppError(err) && err.code === 'APPROVAL_REQUIRED') {
        this.audit.appendSync({
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
    if (this.otherEnabledOfficers(by) === 0) return { approvedBy: null, soleOfficer: true };
    const approver = await this.dualControl.require('operator.privileged', by, approval, input);
    return { approvedBy: approver?.username ?? null };
  }

  // Checked again in the transaction: the target may have become privileged, or another officer
  // enabled, while the approval was awaited.
  private stillApproved(by: Session, approved: Approved): void {
    const ok = approved.approvedBy ? true : approved.soleOfficer === true && this.otherEnabledOfficers(by) === 0;
    if (!ok) {
      throw new AppError(
        'APPROVAL_REQUIRED',
        'This change now needs a second security officer to approve. Try again and ask one to approve.',
      );
    }
  }

  private otherEnabledOfficers(by: Session): number {
    const row = this.db
      .prepare(
        "SELECT count(*) AS n FROM operators WHERE role = 'security_officer' AND disabled_at IS NULL AND id != ?",
      )
      .get(by.operatorId) as { n: number };
    return row.n;
  }

  private keepOneOfficer(op: OperatorRow, verb: string): void {
    const n = this.db
      .prepare(
        "SELECT count(*) AS n FROM operators WHERE role = 'security_officer' AND disabled_at IS NULL AND id != ?",
      )
      .get(op.id) as { n: number };
    if (n.n === 0) {
      throw new AppError(
        'LAST_SECURITY_OFFICER',
        `You cannot ${verb} ${op.username}: they are the last enabled security officer. Create another one first.`,
      );
    }
  }

  private record(by: Session, action: string, username: string, details: AuditDetails): void {
    this.audit.appendSync({
      operatorId: by.operatorId,
      operator: by.username,
      role: by.role,
      action,
      object: `operator:${username}`,
      outcome: 'ok',
      details,
    });
  }

  private mustGet(id: number): OperatorRow {
    const op = this.operators.byId(id);
    if (!op) throw new AppError('OPERATOR_NOT_FOUND', 'That operator no longer exists. Reload the list.');
    return op;
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
  readonly check: (op: OperatorRow) => void;
  /** Slow work (hashing) after the approval, before the transaction. */
  readonly prepare?: () => Promise<void>;
  readonly apply: (op: OperatorRow) => AuditDetails;
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

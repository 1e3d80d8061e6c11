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
import { AppError } from '../errors';

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
    input: { username: string; displayName: string; role: Role; temporaryPassword: string },
  ): Promise<OperatorInfo> {
    const hash = await hashPassword(input.temporaryPassword);
    return this.db.transaction(() => {
      if (this.operators.byUsername(input.username)) {
        throw new AppError('OPERATOR_EXISTS', `The user name ${input.username} is taken. Choose another.`);
      }
      const id = this.operators.insert({ ...input, passwordHash: hash, mustChange: true });
      this.record(by, 'admin.createOperator', input.username, { role: input.role });
      return toInfo(this.mustGet(id), this.now());
    })();
  }

  updateRole(by: Session, operatorId: number, role: Role): OperatorInfo {
    return this.change(by, operatorId, 'admin.updateRole', (op) => {
      if (op.id === by.operatorId) throw new AppError('SELF_CHANGE', 'You cannot change your own role. Ask another security officer.');
      if (op.role === role) throw new AppError('NO_CHANGE', `${op.username} already has that role.`);
      if (op.role === 'security_officer') this.keepOneOfficer(op, 'change the role of');
      this.operators.update(op.id, { role });
      return { from: op.role, to: role };
    });
  }

  disable(by: Session, operatorId: number): OperatorInfo {
    return this.change(by, operatorId, 'admin.disableOperator', (op) => {
      if (op.id === by.operatorId) throw new AppError('SELF_CHANGE', 'You cannot disable your own account. Ask another security officer.');
      if (op.disabled_at) throw new AppError('NO_CHANGE', `${op.username} is already disabled.`);
      if (op.role === 'security_officer') this.keepOneOfficer(op, 'disable');
      this.operators.update(op.id, { disabled_at: new Date().toISOString() });
      return {};
    });
  }

  enable(by: Session, operatorId: number): OperatorInfo {
    return this.change(by, operatorId, 'admin.enableOperator', (op) => {
      if (!op.disabled_at) throw new AppError('NO_CHANGE', `${op.username} is not disabled.`);
      this.operators.update(op.id, { disabled_at: null });
      return {};
    });
  }

  async resetPassword(by: Session, operatorId: number, temporaryPassword: string): Promise<OperatorInfo> {
    const hash = await hashPassword(temporaryPassword);
    return this.change(by, operatorId, 'admin.resetPassword', (op) => {
      if (op.id === by.operatorId) {
        throw new AppError('SELF_CHANGE', 'Change your own password from your account menu, not by a reset.');
      }
      // A reset does not unlock: unlocking needs a second approver.
      this.operators.update(op.id, { password_hash: hash, must_change_password: 1 });
      return {};
    });
  }

  /**
   * Ends a lockout before its time. Both the initiator and the approver must rank at least as high as
   * the locked operator, so managers cannot let themselves into a security officer's account.
   */
  async unlock(by: Session, username: string, approval: Approval | undefined): Promise<{ username: string; approvedBy: string | null }> {
    const target = this.operators.byUsername(username);
    if (!target) throw new AppError('OPERATOR_NOT_FOUND', `There is no operator named ${username}. Check the spelling.`);
    if (!this.isLocked(target)) throw new AppError('NOT_LOCKED', `${target.username} is not locked.`);
    const outranked = (who: 'initiator' | 'approver', role: Role) => {
      this.audit.append({
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
    const approver = await this.dualControl.require('operator.unlock', by, approval);
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

  /** Applies one change in a write transaction, audits it and ends the target's sessions. */
  private change(by: Session, operatorId: number, action: string, apply: (op: OperatorRow) => AuditDetails): OperatorInfo {
    const result = this.db.transaction(() => {
      const op = this.mustGet(operatorId);
      const details = apply(op);
      const ended = this.sessions.endOperator(op.id).length;
      this.record(by, action, op.username, { ...details, endedSessions: ended });
      return this.mustGet(op.id);
    }).immediate();
    return toInfo(result, this.now());
  }

  private keepOneOfficer(op: OperatorRow, verb: string): void {
    const n = this.db
      .prepare("SELECT count(*) AS n FROM operators WHERE role = 'security_officer' AND disabled_at IS NULL AND id != ?")
      .get(op.id) as { n: number };
    if (n.n === 0) {
      throw new AppError(
        'LAST_SECURITY_OFFICER',
        `You cannot ${verb} ${op.username}: they are the last enabled security officer. Create another one first.`,
      );
    }
  }

  private record(by: Session, action: string, username: string, details: AuditDetails): void {
    this.audit.append({
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

import type { Approval } from '../../shared/contract/approval.contract';
import type { DualControlAction } from '../../shared/contract/policy.contract';
import { ROLE_LABELS, type Role } from '../../shared/roles';
import type { AuditService } from '../audit/audit.service';
import type { AuthService } from '../auth/auth.service';
import type { Session } from '../auth/session.store';
import { AppError, isAppError } from '../errors';
import type { PolicySource } from '../policy/policy.service';

/** The second operator who approved an action. Callers name them in their own audit entry. */
export interface Approver {
  readonly operatorId: number;
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
}

// "Not a lower role": an approver must rank at least as high as the initiator. Auditors rank lowest
// on purpose (they review actions, they do not take part in them); policy also refuses them as approvers.
const ROLE_RANK: Record<Role, number> = { auditor: 0, clerk: 1, support: 1, manager: 2, security_officer: 3 };

const ACTION = 'dualControl.approve';

/**
 * One mechanism for every action that needs four eyes: a second operator types their own user name
 * and password at the same desk, sent in the same call. Which actions need it and who may approve
 * come from policy at the moment of use.
 */
export class DualControlService {
  constructor(
    private readonly auth: AuthService,
    private readonly audit: AuditService,
    private readonly policies: PolicySource,
  ) {}

  /** Whether policy currently puts this action under dual control (for forms that ask up front). */
  isRequired(action: DualControlAction): boolean {
    return this.policies.current().dualControl[action].required;
  }

  /**
   * Checks the approval for `action` started by `initiator`. Resolves to the approver, or to null when
   * policy does not require a second person for this action (the approval is then not checked).
   * Every refusal throws an AppError whose code starts with APPROVAL_ or APPROVER_ and is audited.
   */
  async require(action: DualControlAction, initiator: Session, approval: Approval | undefined): Promise<Approver | null> {
    const rule = this.policies.current().dualControl[action];
    if (!rule.required) return null;
    const roles = rule.approverRoles.map((r) => ROLE_LABELS[r].toLowerCase()).join(' or ');
    const context = { for: action, initiator: initiator.username };
    if (!approval) {
      throw new AppError(
        'APPROVAL_REQUIRED',
        `This needs a second operator (${roles}) to approve here with their own user name and password.`,
      );
    }
    if (approval.username.toLowerCase() === initiator.username.toLowerCase()) {
      this.refuse(approval.username, null, context, 'same-operator');
      throw new AppError('APPROVAL_SAME_OPERATOR', 'You cannot approve your own action. Ask another operator to approve.');
    }

    const op = await this.verify(approval, context);
    const who = { operatorId: op.id, operator: op.username, role: op.role };
    if (op.id === initiator.operatorId) {
      this.refuse(op.username, who, context, 'same-operator');
      throw new AppError('APPROVAL_SAME_OPERATOR', 'You cannot approve your own action. Ask another operator to approve.');
    }
    if (!rule.approverRoles.includes(op.role as (typeof rule.approverRoles)[number])) {
      this.refuse(op.username, who, context, 'role-not-allowed');
      throw new AppError('APPROVAL_ROLE', `${op.username} may not approve this. Ask a ${roles}.`);
    }
    if (ROLE_RANK[op.role] < ROLE_RANK[initiator.role]) {
      this.refuse(op.username, who, context, 'lower-role');
      throw new AppError(
        'APPROVAL_ROLE',
        `The approver must hold a role at least as high as yours (${ROLE_LABELS[initiator.role]}). Ask another operator.`,
      );
    }
    this.audit.append({ ...who, action: ACTION, object: action, outcome: 'ok', details: { ...context, initiatorRole: initiator.role } });
    return { operatorId: op.id, username: op.username, displayName: op.display_name, role: op.role };
  }

  private async verify(approval: Approval, context: { for: string; initiator: string }) {
    try {
      return await this.auth.verifyCredentials(approval.username, approval.password, { action: ACTION, details: context });
    } catch (err) {
      if (!isAppError(err)) throw err;
      switch (err.code) {
        case 'AUTH_LOCKED':
          throw new AppError('APPROVER_LOCKED', "The approver's account is locked. Ask another operator to approve.");
        case 'AUTH_DISABLED':
          throw new AppError('APPROVER_DISABLED', "The approver's account is disabled. Ask another operator to approve.");
        case 'AUTH_FAILED': {
          const left = err.details?.attemptsLeft;
          const warning = typeof left === 'number' ? ` ${left} attempt${left === 1 ? '' : 's'} left before that account locks.` : '';
          throw new AppError('APPROVAL_FAILED', `The approver's user name or password is wrong.${warning}`);
        }
        default:
          throw err;
      }
    }
  }

  private refuse(
    username: string,
    who: { operatorId: number; operator: string; role: Role } | null,
    context: { for: string; initiator: string },
    reason: string,
  ): void {
    this.audit.append({
      ...(who ?? { operatorId: null, operator: username, role: null }),
      action: ACTION,
      object: context.for,
      outcome: 'denied',
      details: { ...context, reason },
    });
  }
}

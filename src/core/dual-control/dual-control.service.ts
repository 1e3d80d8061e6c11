import { randomBytes } from 'node:crypto';
import type { Approval } from '../../shared/contract/approval.contract';
import type { DualControlAction } from '../../shared/contract/policy.contract';
import { ROLE_LABELS, type Role } from '../../shared/roles';
import type { AuditTrail } from '../audit/audit.service';
import type { AuthService } from '../auth/auth.service';
import type { OperatorRow } from '../auth/operator.repository';
import type { Session } from '../auth/session.store';
import { AppError, isAppError } from '../errors';
import type { PolicySource } from '../policy/policy.service';
import { approvalDigest } from './approval-binding';

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

/** How long a challenge from `approval:begin` waits for its approval: long enough to type a password. */
export const CHALLENGE_TTL_MS = 2 * 60_000;
// Enough for a form retried a few times; older challenges of that session are dropped.
const MAX_OPEN_CHALLENGES = 8;

interface Challenge {
  readonly session: Session;
  readonly action: DualControlAction;
  readonly expires: number;
}

type Context = { for: string; initiator: string; input: string };
type Who = { operatorId: number; operator: string; role: Role };

/**
 * One mechanism for every action that needs four eyes: a second operator types their own user name
 * and password at the same desk, sent in the same call. Which actions need it and who may approve
 * come from policy at the moment of use. Each approval carries a challenge the initiator's session
 * took for that one action; the call that presents it uses it up, so an approval approves one call.
 */
export class DualControlService {
  private readonly challenges = new Map<string, Challenge>();

  constructor(
    private readonly auth: AuthService,
    private readonly audit: AuditTrail,
    private readonly policies: PolicySource,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** A fresh single-use challenge for `action`, valid only with `initiator`'s session. */
  begin(
    initiator: Session,
    action: DualControlAction,
  ): { challenge: string; action: DualControlAction; expiresAt: string } {
    const now = this.now();
    const mine: string[] = [];
    for (const [key, c] of this.challenges) {
      if (c.expires <= now) this.challenges.delete(key);
      else if (c.session === initiator) mine.push(key);
    }
    for (const key of mine.slice(0, Math.max(0, mine.length - MAX_OPEN_CHALLENGES + 1))) this.challenges.delete(key);
    const challenge = randomBytes(24).toString('base64url');
    const expires = now + CHALLENGE_TTL_MS;
    this.challenges.set(challenge, { session: initiator, action, expires });
    return { challenge, action, expiresAt: new Date(expires).toISOString() };
  }

  /** Whether policy currently puts this action under dual control (for forms that ask up front). */
  isRequired(action: DualControlAction): boolean {
    return this.policies.current().dualControl[action].required;
  }

  /**
   * Checks the approval for `action` started by `initiator`. Resolves to the approver, or to null when
   * policy does not require a second person for this action (the approval is then not checked).
   * Every refusal throws an AppError whose code starts with APPROVAL_ or APPROVER_ and is audited.
   * `input` is the call's input: its digest goes into the approval's audit entry. Call this before
   * changing anything, and change nothing when it throws.
   */
  async require(
    action: DualControlAction,
    initiator: Session,
    approval: Approval | undefined,
    input: unknown,
  ): Promise<Approver | null> {
    // Presented challenges are used up whatever happens next, so no approval counts twice.
    const challenge = approval ? this.take(approval.challenge) : null;
    const rule = this.policies.current().dualControl[action];
    if (!rule.required) return null;
    const roles = rule.approverRoles.map((r) => ROLE_LABELS[r].toLowerCase()).join(' or ');
    const context: Context = { for: action, initiator: initiator.username, input: approvalDigest(action, input) };
    if (!approval) {
      const self = { operatorId: initiator.operatorId, operator: initiator.username, role: initiator.role };
      await this.refuse(initiator.username, self, context, 'no-approval');
      throw new AppError(
        'APPROVAL_REQUIRED',
        `This needs a second operator (${roles}) to approve here with their own user name and password.`,
      );
    }
    if (!challenge || challenge.expires <= this.now() || challenge.session !== initiator) {
      await this.refuse(
        approval.username,
        null,
        context,
        challenge ? 'challenge-expired-or-foreign' : 'challenge-unknown',
      );
      throw new AppError(
        'APPROVAL_STALE',
        'This approval was already used, has expired or belongs to another session. Ask the approver to approve again.',
      );
    }
    if (challenge.action !== action) {
      await this.refuse(approval.username, null, context, 'challenge-for-other-action');
      throw new AppError(
        'APPROVAL_MISMATCH',
        `This approval was given for ${challenge.action}, not for ${action}. Ask the approver to approve this action.`,
      );
    }
    if (approval.username.toLowerCase() === initiator.username.toLowerCase()) {
      await this.refuse(approval.username, null, context, 'same-operator');
      throw new AppError(
        'APPROVAL_SAME_OPERATOR',
        'You cannot approve your own action. Ask another operator to approve.',
      );
    }

    const op = await this.verify(approval, context);
    const who = { operatorId: op.id, operator: op.username, role: op.role };
    if (op.id === initiator.operatorId) {
      await this.refuse(op.username, who, context, 'same-operator');
      throw new AppError(
        'APPROVAL_SAME_OPERATOR',
        'You cannot approve your own action. Ask another operator to approve.',
      );
    }
    if (!rule.approverRoles.includes(op.role as (typeof rule.approverRoles)[number])) {
      await this.refuse(op.username, who, context, 'role-not-allowed');
      throw new AppError('APPROVAL_ROLE', `${op.username} may not approve this. Ask a ${roles}.`);
    }
    if (ROLE_RANK[op.role] < ROLE_RANK[initiator.role]) {
      await this.refuse(op.username, who, context, 'lower-role');
      throw new AppError(
        'APPROVAL_ROLE',
        `The approver must hold a role at least as high as yours (${ROLE_LABELS[initiator.role]}). Ask another operator.`,
      );
    }
    await this.checkPasswordProvenance(op, initiator, who, context);
    await this.audit.append({
      ...who,
      action: ACTION,
      object: action,
      outcome: 'ok',
      details: { ...context, initiatorRole: initiator.role },
    });
    return { operatorId: op.id, username: op.username, displayName: op.display_name, role: op.role };
  }

  /**
   * An approver's password must be their own: not temporary, never set by the initiator, and not set
   * by anyone else recently. Otherwise the initiator could approve with a password they chose.
   */
  private async checkPasswordProvenance(
    op: OperatorRow,
    initiator: Session,
    who: Who,
    context: Context,
  ): Promise<void> {
    if (op.must_change_password === 1) {
      await this.refuse(op.username, who, context, 'temporary-password');
      throw new AppError(
        'APPROVER_TEMPORARY_PASSWORD',
        `The approver must first change the temporary password: ${op.username} signs in, chooses a new password, then approves again.`,
      );
    }
    if (op.password_set_by === initiator.operatorId) {
      await this.refuse(op.username, who, context, 'password-set-by-initiator');
      throw new AppError(
        'APPROVER_PASSWORD_SET_BY_INITIATOR',
        `You set ${op.username}'s current password, so it cannot approve your action. ${op.username} must choose their own password first.`,
      );
    }
    const hours = this.policies.current().approverResetWindowHours;
    const setAt = op.password_set_at ? Date.parse(op.password_set_at) : Number.NaN;
    const recent = Number.isNaN(setAt) || this.now() - setAt < hours * 3_600_000;
    if (op.password_set_by !== op.id && recent) {
      await this.refuse(op.username, who, context, 'password-set-by-other-recently');
      throw new AppError(
        'APPROVER_PASSWORD_RECENT',
        `${op.username}'s password was set by another operator less than ${hours} hours ago. ${op.username} must choose their own password first, or ask another operator to approve.`,
      );
    }
  }

  private take(key: string): Challenge | null {
    const c = this.challenges.get(key) ?? null;
    this.challenges.delete(key);
    return c;
  }

  private async verify(approval: Approval, context: Context) {
    try {
      return await this.auth.verifyCredentials(approval.username, approval.password, {
        action: ACTION,
        details: context,
      });
    } catch (err) {
      if (!isAppError(err)) throw err;
      switch (err.code) {
        case 'AUTH_LOCKED':
          throw new AppError('APPROVER_LOCKED', "The approver's account is locked. Ask another operator to approve.");
        case 'AUTH_DISABLED':
          throw new AppError(
            'APPROVER_DISABLED',
            "The approver's account is disabled. Ask another operator to approve.",
          );
        case 'AUTH_FAILED': {
          const left = err.details?.attemptsLeft;
          const warning =
            typeof left === 'number' ? ` ${left} attempt${left === 1 ? '' : 's'} left before that account locks.` : '';
          throw new AppError('APPROVAL_FAILED', `The approver's user name or password is wrong.${warning}`);
        }
        default:
          throw err;
      }
    }
  }

  private refuse(username: string, who: Who | null, context: Context, reason: string): Promise<void> {
    return this.audit.append({
      ...(who ?? { operatorId: null, operator: username, role: null }),
      action: ACTION,
      object: context.for,
      outcome: 'denied',
      details: { ...context, reason },
    });
  }
}

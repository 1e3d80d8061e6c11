import type { SessionInfo } from '../../shared/contract/auth.contract';
import { AppError, isAppError } from '../errors';
import type { AuditDetails, AuditEntryInput, AuditTrail } from '../audit/audit.service';
import type { PolicySource } from '../policy/policy.service';
import { AttemptThrottle } from './attempt-throttle';
import { DUMMY_HASH, hashPassword, verifyPassword } from './password-hash';
import type { OperatorRepository, OperatorRow } from './operator.repository';
import type { Session, SessionStore } from './session.store';

const WRONG = 'User name or password is wrong. Check Caps Lock and try again.';

/** The one answer the sign-in screen gives to every refusal: unknown user, wrong password, locked, disabled, throttled. */
export const SIGN_IN_FAILED =
  'Sign-in failed. Check your user name, password and Caps Lock, then try again in a few minutes. If it keeps failing, ask a security officer: the account may be locked or disabled.';

const CREDENTIAL_REFUSALS = new Set(['AUTH_FAILED', 'AUTH_LOCKED', 'AUTH_DISABLED']);

// In front of the lockout: at least as many free attempts as the highest lockout policy allows (10),
// so a burst still reaches the lockout and locks at exactly the policy's limit; after that each
// further attempt waits twice as long, up to five minutes.
const THROTTLE = { freeAttempts: 10, baseDelayMs: 1_000, maxDelayMs: 5 * 60_000, forgetAfterMs: 15 * 60_000 };

/** Sign-in, sign-out, first run, lockout (timed, growing with repeats) and throttling. Every outcome is audited. */
export class AuthService {
  private readonly throttle: AttemptThrottle;

  constructor(
    private readonly operators: OperatorRepository,
    private readonly sessions: SessionStore,
    private readonly audit: AuditTrail,
    private readonly policies: PolicySource,
    /** Milliseconds since the epoch; tests pass their own to let a lockout expire without waiting. */
    private readonly now: () => number = Date.now,
  ) {
    this.throttle = new AttemptThrottle({ ...THROTTLE, now });
  }

  async isFirstRun(): Promise<boolean> {
    return (await this.operators.count()) === 0;
  }

  describe(session: Session): SessionInfo {
    return {
      operatorId: session.operatorId,
      username: session.username,
      displayName: session.displayName,
      role: session.role,
      mustChangePassword: session.mustChangePassword,
      expiresAt: this.sessions.expiresAt(session),
    };
  }

  async setupFirstOfficer(
    clientId: string,
    input: { username: string; displayName: string; password: string },
  ): Promise<SessionInfo> {
    const hash = await hashPassword(input.password);
    // Check and insert in one transaction so two desks racing through first run cannot both win.
    const op = await this.operators.createFirst(
      { ...input, role: 'security_officer', passwordHash: hash, mustChange: false },
      (id) => ({
        operatorId: id,
        operator: input.username,
        role: 'security_officer',
        action: 'auth.setupFirstOfficer',
        object: `operator:${input.username}`,
        outcome: 'ok',
      }),
    );
    if (!op) throw new AppError('SETUP_DONE', 'This workstation already has operators. Sign in instead.');
    return this.startSession(clientId, op);
  }

  async signIn(clientId: string, username: string, password: string): Promise<SessionInfo> {
    let op: OperatorRow;
    try {
      op = await this.verifyCredentials(username, password, { action: 'auth.signIn', clientId });
    } catch (err) {
      // One answer for every refusal, so the sign-in screen tells nobody which user names exist or
      // which accounts are locked; the audit entry written below verifyCredentials keeps the real reason.
      if (isAppError(err) && CREDENTIAL_REFUSALS.has(err.code)) throw new AppError('AUTH_FAILED', SIGN_IN_FAILED);
      throw err;
    }
    await this.audit.append({
      operatorId: op.id,
      operator: op.username,
      role: op.role,
      action: 'auth.signIn',
      outcome: 'ok',
    });
    return this.startSession(clientId, op);
  }

  /**
   * Checks a user name and password without starting a session. Sign-in and dual-control approvals
   * share it, so a wrong approver password counts toward that approver's lockout like a failed sign-in.
   * Refuses with AUTH_FAILED (unknown user, wrong password, too many attempts), AUTH_LOCKED or
   * AUTH_DISABLED; sign-in folds these into one answer. Failures are audited under `opts.action` with
   * `opts.details` and the real reason; success is left to the caller to audit. `opts.clientId` adds
   * the calling client to the throttle's keys.
   */
  async verifyCredentials(
    username: string,
    password: string,
    opts: { action: string; details?: AuditDetails; clientId?: string },
  ): Promise<OperatorRow> {
    const keys = throttleKeys(username, opts.clientId);
    if (!this.throttle.admit(keys).ok) {
      const op = await this.operators.byUsername(username);
      await this.refuse(op, username, opts, 'failed', 'throttled');
      throw new AppError('AUTH_FAILED', WRONG);
    }
    const op = await this.checkPassword(await this.operators.byUsername(username), username, password, opts);
    this.throttle.succeeded(keys);
    return op;
  }

  async signOut(clientId: string, session: Session, reason: 'signed-out' | 'timeout' = 'signed-out'): Promise<void> {
    this.sessions.delete(clientId);
    await this.audit.append({
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
      action: reason === 'timeout' ? 'auth.timeout' : 'auth.signOut',
      outcome: 'ok',
    });
  }

  /**
   * A wrong current password counts toward the lockout like a failed sign-in (a lockout ends every
   * session of the operator); a successful change ends the operator's sessions on other clients.
   */
  async changePassword(clientId: string, session: Session, current: string, next: string): Promise<void> {
    const opts = { action: 'auth.changePassword', clientId };
    const keys = throttleKeys(session.username, clientId);
    if (!this.throttle.admit(keys).ok) {
      await this.refuse(await this.operators.byId(session.operatorId), session.username, opts, 'failed', 'throttled');
      throw new AppError(
        'AUTH_FAILED',
        'Too many attempts in a row. Wait a minute, then try again; the password was not changed.',
      );
    }
    let op: OperatorRow;
    try {
      op = await this.checkPassword(await this.operators.byId(session.operatorId), session.username, current, opts);
    } catch (err) {
      if (!isAppError(err)) throw err;
      if (err.code === 'AUTH_FAILED') {
        throw new AppError('AUTH_FAILED', 'Your current password is wrong; the password was not changed.');
      }
      // Locked (perhaps by this very attempt) or disabled: whoever sits at a session of it is out.
      this.sessions.endOperator(session.operatorId);
      throw new AppError(err.code, `${err.message} You have been signed out.`);
    }
    this.throttle.succeeded(keys);
    const actor = { operatorId: op.id, operator: op.username, role: op.role };
    if (current === next)
      throw new AppError('PASSWORD_REUSED', 'Choose a new password different from the current one.');
    const hash = await hashPassword(next);
    // Only over the password just checked, on an account still enabled and unlocked: a reset, a
    // disable or a lockout from another desk while this one was hashing wins, and nothing changes.
    let ended = 0; // summed: on PostgreSQL the transaction may run again after a deadlock
    const changed = await this.operators.changeOwnPassword(op.id, op.password_hash, hash, this.now(), () => {
      ended += this.sessions.endOperator(op.id, clientId).length;
      return [{ ...actor, action: 'auth.changePassword', outcome: 'ok', details: { endedSessions: ended } }];
    });
    if (!changed) {
      await this.refuse(op, session.username, opts, 'denied', 'changed-meanwhile');
      this.sessions.endOperator(op.id);
      throw new AppError(
        'AUTH_CHANGED',
        'Your account was changed at another desk while you typed (password reset, locked or disabled); the password was not changed. You have been signed out: sign in again.',
      );
    }
    session.mustChangePassword = false;
    session.passwordSetAt = changed.password_set_at;
    // The change moved the epoch on to end the operator's other sessions; this one goes on.
    session.sessionEpoch = changed.session_epoch;
  }

  /**
   * The same scrypt work for every attempt: an unknown user is checked against a dummy hash and a
   * locked one against its own, and the row is read again after hashing, so neither the answer nor
   * its timing depends on whether the name exists or is locked, and a lockout that landed while this
   * attempt was hashing holds.
   */
  private async checkPassword(
    found: OperatorRow | undefined,
    username: string,
    password: string,
    opts: { action: string; details?: AuditDetails },
  ): Promise<OperatorRow> {
    const matches = await verifyPassword(password, found?.password_hash ?? DUMMY_HASH);
    const op = found ? await this.operators.byId(found.id) : undefined;
    if (!op) {
      await this.refuse(undefined, username, opts, 'failed', 'unknown-user');
      throw new AppError('AUTH_FAILED', WRONG);
    }
    if (this.isLocked(op)) {
      await this.refuse(op, username, opts, 'denied', 'locked');
      throw new AppError('AUTH_LOCKED', lockedMessage());
    }
    // A password reset while this attempt was hashing makes the checked hash stale.
    if (!matches || op.password_hash !== found?.password_hash) return this.recordFailure(op, opts);
    if (op.disabled_at) {
      await this.refuse(op, username, opts, 'denied', 'disabled');
      throw new AppError('AUTH_DISABLED', 'This account is disabled. Ask a security officer if you still need access.');
    }
    const clean = op.failed_attempts === 0 && op.lockout_count === 0 && op.locked_until === null;
    if (!clean && !(await this.operators.clearFailures(op.id, this.now()))) {
      await this.refuse(op, username, opts, 'denied', 'locked');
      throw new AppError('AUTH_LOCKED', lockedMessage());
    }
    return op;
  }

  private async recordFailure(op: OperatorRow, opts: { action: string; details?: AuditDetails }): Promise<never> {
    const policy = this.policies.current();
    const actor = { operatorId: op.id, operator: op.username, role: op.role };
    const rule = {
      now: this.now(),
      maxAttempts: policy.maxFailedSignIns,
      baseMs: policy.lockoutMinutes * 60_000,
      maxMs: policy.lockoutMaxMinutes * 60_000,
    };
    const counted = await this.operators.countFailure(op.id, rule, (c) => {
      const entries: AuditEntryInput[] = [
        {
          ...actor,
          action: opts.action,
          outcome: 'failed',
          details: { ...opts.details, reason: 'wrong-password', attempts: c.attempts },
        },
      ];
      if (c.lockedUntil !== null) {
        entries.push({
          ...actor,
          action: 'auth.lockout',
          outcome: 'ok',
          details: { attempts: c.attempts, lockouts: c.lockouts, until: new Date(c.lockedUntil).toISOString() },
        });
      }
      return entries;
    });
    // Locked meanwhile (by another attempt here or at another desk): nothing counted.
    if (!counted) await this.refuse(op, op.username, opts, 'denied', 'locked');
    if (!counted || counted.lockedUntil !== null) throw new AppError('AUTH_LOCKED', lockedMessage());
    throw new AppError('AUTH_FAILED', WRONG);
  }

  private isLocked(op: OperatorRow): boolean {
    return op.locked_until !== null && op.locked_until > this.now();
  }

  private refuse(
    op: OperatorRow | undefined,
    username: string,
    opts: { action: string; details?: AuditDetails },
    outcome: 'failed' | 'denied',
    reason: string,
  ): Promise<void> {
    return this.audit.append({
      operatorId: op?.id ?? null,
      operator: op?.username ?? username,
      role: op?.role ?? null,
      action: opts.action,
      outcome,
      details: { ...opts.details, reason },
    });
  }

  private startSession(clientId: string, op: OperatorRow): SessionInfo {
    const s = this.sessions.set(clientId, {
      operatorId: op.id,
      username: op.username,
      displayName: op.display_name,
      role: op.role,
      mustChangePassword: op.must_change_password === 1,
      passwordSetAt: op.password_set_at,
      sessionEpoch: op.session_epoch,
    });
    return this.describe(s);
  }
}

function lockedMessage(): string {
  return 'This account is locked for a while after too many wrong passwords. Try again later, or ask a security officer to unlock it (this needs a second approver).';
}

function throttleKeys(username: string, clientId: string | undefined): string[] {
  const keys = [`user:${username.toLowerCase()}`];
  if (clientId !== undefined) keys.push(`client:${clientId}`);
  return keys;
}

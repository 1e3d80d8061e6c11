import type { Database } from 'better-sqlite3';
import type { SessionInfo } from '../../shared/contract/auth.contract';
import { AppError } from '../errors';
import type { AuditDetails, AuditService } from '../audit/audit.service';
import type { PolicySource } from '../policy/policy.service';
import { DUMMY_HASH, hashPassword, verifyPassword } from './password-hash';
import { OperatorRepository, type OperatorRow } from './operator.repository';
import type { Session, SessionStore } from './session.store';

const WRONG = 'User name or password is wrong. Check Caps Lock and try again.';

/** Sign-in, sign-out, first run, lockout. Every outcome is audited. */
export class AuthService {
  private readonly operators: OperatorRepository;

  constructor(
    private readonly db: Database,
    private readonly sessions: SessionStore,
    private readonly audit: AuditService,
    private readonly policies: PolicySource,
  ) {
    this.operators = new OperatorRepository(db);
  }

  isFirstRun(): boolean {
    return this.operators.count() === 0;
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
    const id = this.db.transaction(() => {
      if (!this.isFirstRun()) {
        throw new AppError('SETUP_DONE', 'This workstation already has operators. Sign in instead.');
      }
      const newId = this.operators.insert({ ...input, role: 'security_officer', passwordHash: hash, mustChange: false });
      this.audit.append({
        operatorId: newId,
        operator: input.username,
        role: 'security_officer',
        action: 'auth.setupFirstOfficer',
        object: `operator:${input.username}`,
        outcome: 'ok',
      });
      return newId;
    })();
    return this.startSession(clientId, this.mustGet(id));
  }

  async signIn(clientId: string, username: string, password: string): Promise<SessionInfo> {
    const op = await this.verifyCredentials(username, password, { action: 'auth.signIn' });
    this.audit.append({ operatorId: op.id, operator: op.username, role: op.role, action: 'auth.signIn', outcome: 'ok' });
    return this.startSession(clientId, op);
  }

  /**
   * Checks a user name and password without starting a session. Sign-in and dual-control approvals
   * share it, so a wrong approver password counts toward that approver's lockout like a failed sign-in.
   * Failures are audited under `opts.action` with `opts.details`; success is left to the caller to audit.
   */
  async verifyCredentials(
    username: string,
    password: string,
    opts: { action: string; details?: AuditDetails },
  ): Promise<OperatorRow> {
    const op = this.operators.byUsername(username);
    const actor = { operatorId: op?.id ?? null, operator: op?.username ?? username, role: op?.role ?? null };
    const fail = (outcome: 'failed' | 'denied', reason: string) =>
      this.audit.append({ ...actor, action: opts.action, outcome, details: { ...opts.details, reason } });
    if (op?.locked_at) {
      fail('denied', 'locked');
      throw new AppError('AUTH_LOCKED', lockedMessage());
    }
    const good = await verifyPassword(password, op?.password_hash ?? DUMMY_HASH);
    if (!op || !good) {
      if (!op) {
        fail('failed', 'unknown-user');
        throw new AppError('AUTH_FAILED', WRONG);
      }
      return this.recordFailure(op, opts);
    }
    if (op.disabled_at) {
      fail('denied', 'disabled');
      throw new AppError('AUTH_DISABLED', 'This account is disabled. Ask a security officer if you still need access.');
    }
    if (op.failed_attempts > 0) this.operators.update(op.id, { failed_attempts: 0 });
    return op;
  }

  signOut(clientId: string, session: Session, reason: 'signed-out' | 'timeout' = 'signed-out'): void {
    this.sessions.delete(clientId);
    this.audit.append({
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
      action: reason === 'timeout' ? 'auth.timeout' : 'auth.signOut',
      outcome: 'ok',
    });
  }

  async changePassword(session: Session, current: string, next: string): Promise<void> {
    const op = this.mustGet(session.operatorId);
    const actor = { operatorId: op.id, operator: op.username, role: op.role };
    if (!(await verifyPassword(current, op.password_hash))) {
      this.audit.append({ ...actor, action: 'auth.changePassword', outcome: 'failed' });
      throw new AppError('AUTH_FAILED', 'Your current password is wrong; the password was not changed.');
    }
    if (current === next) throw new AppError('PASSWORD_REUSED', 'Choose a new password different from the current one.');
    const hash = await hashPassword(next);
    this.db.transaction(() => {
      this.operators.setPassword(op.id, hash, op.id);
      this.audit.append({ ...actor, action: 'auth.changePassword', outcome: 'ok' });
    })();
    session.mustChangePassword = false;
  }

  private recordFailure(op: OperatorRow, opts: { action: string; details?: AuditDetails }): never {
    const max = this.policies.current().maxFailedSignIns;
    const attempts = op.failed_attempts + 1;
    const actor = { operatorId: op.id, operator: op.username, role: op.role };
    const locked = attempts >= max;
    this.db.transaction(() => {
      this.operators.update(op.id, locked ? { failed_attempts: attempts, locked_at: new Date().toISOString() } : { failed_attempts: attempts });
      this.audit.append({
        ...actor,
        action: opts.action,
        outcome: 'failed',
        details: { ...opts.details, reason: 'wrong-password', attempts },
      });
      if (locked) this.audit.append({ ...actor, action: 'auth.lockout', outcome: 'ok', details: { attempts } });
    })();
    if (locked) throw new AppError('AUTH_LOCKED', lockedMessage());
    const left = max - attempts;
    throw new AppError('AUTH_FAILED', `${WRONG} ${left} attempt${left === 1 ? '' : 's'} left before the account locks.`, {
      attemptsLeft: left,
    });
  }

  private startSession(clientId: string, op: OperatorRow): SessionInfo {
    const s = this.sessions.set(clientId, {
      operatorId: op.id,
      username: op.username,
      displayName: op.display_name,
      role: op.role,
      mustChangePassword: op.must_change_password === 1,
    });
    return this.describe(s);
  }

  private mustGet(id: number): OperatorRow {
    const op = this.operators.byId(id);
    if (!op) throw new AppError('OPERATOR_NOT_FOUND', 'That operator no longer exists. Reload the list.');
    return op;
  }
}

function lockedMessage(): string {
  return 'This account is locked after too many wrong passwords. Ask a security officer to unlock it (this needs a second approver).';
}

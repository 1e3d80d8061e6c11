import type { Role } from '../../shared/roles';

export interface Session {
  readonly operatorId: number;
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
  mustChangePassword: boolean;
  /**
   * When the operator's password was set as the session began (or changed in it): a different value
   * in their row means it was reset elsewhere, and the router ends the session. Absent: not checked.
   */
  passwordSetAt?: string | null;
  /**
   * The operator's session epoch (operators.session_epoch) as the session began, or as its own
   * password change moved it: another value in their row means a change since that ended their
   * sessions, even one undone meanwhile, and the router ends this one. Absent: not checked.
   */
  sessionEpoch?: number;
  lastActivity: number;
}

/**
 * Signed-in operators per client (one Electron window, or one browser context of the loopback host).
 * Kept in memory on purpose: a restart signs everyone out.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly timeoutMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  set(clientId: string, session: Omit<Session, 'lastActivity'>): Session {
    const s: Session = { ...session, lastActivity: this.now() };
    this.sessions.set(clientId, s);
    return s;
  }

  /** The live session, or why there is none. Touching it extends the idle timeout. */
  get(clientId: string, touch = true): { session: Session } | { session: null; expired: Session | null } {
    const s = this.sessions.get(clientId);
    if (!s) return { session: null, expired: null };
    if (this.now() - s.lastActivity > this.timeoutMs()) {
      this.sessions.delete(clientId);
      return { session: null, expired: s };
    }
    if (touch) s.lastActivity = this.now();
    return { session: s };
  }

  /** The live session, read only: neither extends nor ends it (for pushing events, which is no activity). */
  peek(clientId: string): Session | null {
    const s = this.sessions.get(clientId);
    return s && this.now() - s.lastActivity <= this.timeoutMs() ? s : null;
  }

  expiresAt(s: Session): string {
    return new Date(s.lastActivity + this.timeoutMs()).toISOString();
  }

  delete(clientId: string): void {
    this.sessions.delete(clientId);
  }

  /** Ends every session of one operator (disabled, role changed, password reset), but the one on `exceptClientId`. */
  endOperator(operatorId: number, exceptClientId?: string): string[] {
    const ended: string[] = [];
    for (const [clientId, s] of this.sessions) {
      if (s.operatorId === operatorId && clientId !== exceptClientId) {
        this.sessions.delete(clientId);
        ended.push(clientId);
      }
    }
    return ended;
  }
}

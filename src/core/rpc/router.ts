import { AsyncLocalStorage } from 'node:async_hooks';
import type { z } from 'zod';
import { contract as defaultContract, type ChannelDef, type ContractError, type Result } from '../../shared/contract';
import { AppError, isAppError } from '../errors';
import type { Session, SessionStore } from '../auth/session.store';
import type { AuditTrail } from '../audit/audit.service';
import type { OperatorRepository, OperatorRow } from '../auth/operator.repository';
import type { Logger } from '../log';

/** Who is calling: the transport names the client; the router finds its session. */
export interface CallContext {
  readonly clientId: string;
  readonly session: Session | null;
}

/** A call the router has checked: the session is present unless the channel is public. */
export interface AuthedContext extends CallContext {
  readonly session: Session;
}

type Ctx<D extends ChannelDef> = D['access'] extends 'public' ? CallContext : AuthedContext;

export type Handler<D extends ChannelDef> = (
  input: z.output<D['input']>,
  ctx: Ctx<D>,
) => Promise<z.input<D['output']>> | z.input<D['output']>;

export type HandlersFor<C extends Record<string, ChannelDef>> = { [K in keyof C]: Handler<C[K]> };

/** Largest payload any channel accepts, before schema validation even starts. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

export interface RouterDeps {
  readonly sessions: SessionStore;
  readonly audit: AuditTrail;
  readonly log: Logger;
  readonly onSessionExpired: (clientId: string, session: Session) => void;
  /**
   * The operators table: each call by a signed-in operator reads their row (one primary-key read)
   * and ends the session when, at any desk, they were disabled, locked, given another role or had
   * their password reset — or any such change was made since the session began, though undone by
   * now (the row's session epoch moved on). Sessions live in memory per desk; the row is what all
   * desks share.
   */
  readonly operators?: Pick<OperatorRepository, 'byId'>;
  /** Told when a session ends that way (the desk pushes `session:ended` to the client). */
  readonly onSessionRevoked?: (clientId: string, session: Session, reason: RevokedReason) => void;
  /** The lockout's clock (ms since the epoch). */
  readonly now?: () => number;
  /**
   * The policies in force. On PostgreSQL another desk may have saved a new version: `refresh` re-reads
   * it (one indexed read) before each call, so a policy applies at every desk from its next call.
   */
  readonly policies?: { refresh?(): Promise<void> };
}

export type RevokedReason = 'removed' | 'disabled' | 'locked' | 'role-changed' | 'password-reset' | 'account-changed';

/**
 * The single entry for every renderer call, whatever the transport: unknown channel, bad
 * input, missing session and wrong role are refused here, as values, before any domain code runs.
 */
export class Router<C extends Record<string, ChannelDef> = typeof defaultContract> {
  // Per mutating call: whether anything in it already wrote a refusal (outcome other than ok) to the audit.
  private readonly callScope = new AsyncLocalStorage<{ refusalAudited: boolean }>();

  constructor(
    private readonly channels: C,
    private readonly handlers: HandlersFor<C>,
    private readonly deps: RouterDeps,
  ) {
    deps.audit.onAppend((row) => {
      const scope = this.callScope.getStore();
      if (scope && row.outcome !== 'ok') scope.refusalAudited = true;
    });
  }

  channelNames(): (keyof C & string)[] {
    return Object.keys(this.channels);
  }

  async dispatch(clientId: string, channelName: unknown, payload: unknown): Promise<Result<unknown>> {
    try {
      return { ok: true, value: await this.run(clientId, channelName, payload) };
    } catch (err) {
      return { ok: false, error: this.toError(err, channelName) };
    }
  }

  private async run(clientId: string, channelName: unknown, payload: unknown): Promise<unknown> {
    if (typeof channelName !== 'string' || !Object.prototype.hasOwnProperty.call(this.channels, channelName)) {
      throw new AppError('UNKNOWN_CHANNEL', 'The workstation does not offer that function. Update or restart the app.');
    }
    const def = this.channels[channelName] as ChannelDef;
    const size = payload === undefined ? 0 : (JSON.stringify(payload)?.length ?? 0);
    if (size > MAX_PAYLOAD_BYTES)
      throw new AppError('PAYLOAD_TOO_LARGE', 'The request is too large. Shorten the input.');
    // An absent payload means "no arguments"; null or any other non-object is malformed.
    const parsed = def.input.safeParse(payload === undefined ? {} : payload);
    if (!parsed.success) throw validationError(parsed.error);

    await this.deps.policies?.refresh?.();
    const found = this.deps.sessions.get(clientId);
    if (!found.session && found.expired) this.deps.onSessionExpired(clientId, found.expired);
    const revoked = found.session ? await this.revoked(clientId, found.session) : null;
    const session = revoked ? null : found.session;
    if (def.access !== 'public') {
      if (revoked) throw new AppError('AUTH_REQUIRED', REVOKED_MESSAGE[revoked]);
      if (!session) {
        throw new AppError(
          'AUTH_REQUIRED',
          !found.session && found.expired ? 'Your session timed out. Sign in again.' : 'Sign in first.',
        );
      }
      if (def.access !== 'signed-in' && !def.access.includes(session.role)) {
        await this.deps.audit.append({
          operatorId: session.operatorId,
          operator: session.username,
          role: session.role,
          action: 'access.denied',
          object: channelName,
          outcome: 'denied',
        });
        throw new AppError('FORBIDDEN', `Your role may not use this function. Ask an operator with the right role.`);
      }
      if (session.mustChangePassword && !ALLOWED_BEFORE_PASSWORD_CHANGE.has(channelName)) {
        throw new AppError('PASSWORD_CHANGE_REQUIRED', 'Change your password before you continue.');
      }
    }
    const handler = this.handlers[channelName] as Handler<ChannelDef>;
    const call = () => handler(parsed.data, { clientId, session } as AuthedContext);
    const value = def.mutates && session ? await this.auditingRefusal(channelName, session, call) : await call();
    const out = def.output.safeParse(value);
    if (!out.success) {
      this.deps.log.error('contract output mismatch', { channel: channelName });
      throw new AppError(
        'INTERNAL',
        'The workstation produced an unexpected answer. The incident is logged; try again.',
      );
    }
    return out.data;
  }

  /**
   * Runs a state-changing call by a signed-in operator so that a refusal leaves an audit entry:
   * the channel as the action, outcome denied, the error code. Services that audit their own
   * refusal (with its reason) are not doubled: any entry they append with another outcome than ok
   * during the call counts.
   */
  private async auditingRefusal<T>(channelName: string, session: Session, call: () => Promise<T> | T): Promise<T> {
    const scope = { refusalAudited: false };
    try {
      return await this.callScope.run(scope, async () => await call());
    } catch (err) {
      if (isAppError(err) && !scope.refusalAudited) {
        await this.deps.audit.append({
          operatorId: session.operatorId,
          operator: session.username,
          role: session.role,
          action: channelName.replace(':', '.'),
          outcome: 'denied',
          details: { code: err.code },
        });
      }
      throw err;
    }
  }

  /**
   * Why the operator's row no longer backs this session, after ending it (audited), or null. A change
   * made at this desk already ended its sessions; this catches the ones made at another desk.
   */
  private async revoked(clientId: string, session: Session): Promise<RevokedReason | null> {
    if (!this.deps.operators) return null;
    const reason = revokedReason(
      session,
      await this.deps.operators.byId(session.operatorId),
      (this.deps.now ?? Date.now)(),
    );
    if (!reason) return null;
    // Another call of this client may have ended it while the row was read: end and audit once.
    if (this.deps.sessions.peek(clientId) !== session) return reason;
    this.deps.sessions.delete(clientId);
    await this.deps.audit.append({
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
      action: 'auth.sessionEnded',
      outcome: 'ok',
      details: { reason },
    });
    this.deps.onSessionRevoked?.(clientId, session, reason);
    return reason;
  }

  private toError(err: unknown, channelName: unknown): ContractError {
    if (isAppError(err)) {
      const fields = err.details?.fields;
      return typeof fields === 'string'
        ? { code: err.code, message: err.message, fields: JSON.parse(fields) as Record<string, string> }
        : { code: err.code, message: err.message };
    }
    // Unexpected errors are logged by name only: their messages may quote data.
    this.deps.log.error('unexpected error in handler', {
      channel: typeof channelName === 'string' ? channelName.slice(0, 80) : 'invalid',
      error: err instanceof Error ? err.name : typeof err,
    });
    return { code: 'INTERNAL', message: 'Something went wrong in the workstation. The incident is logged; try again.' };
  }
}

function revokedReason(session: Session, op: OperatorRow | undefined, now: number): RevokedReason | null {
  if (!op) return 'removed';
  if (op.disabled_at !== null) return 'disabled';
  if (op.locked_until !== null && op.locked_until > now) return 'locked';
  if (op.role !== session.role) return 'role-changed';
  if (session.passwordSetAt !== undefined && op.password_set_at !== session.passwordSetAt) return 'password-reset';
  // The row looks as it did, but a change that ends sessions came between (disabled then enabled,
  // locked then unlocked, re-roled and back): the epoch it moved on says so.
  if (session.sessionEpoch !== undefined && op.session_epoch !== session.sessionEpoch) return 'account-changed';
  return null;
}

const REVOKED_MESSAGE: Record<RevokedReason, string> = {
  removed: 'Your account no longer exists. Ask a security officer.',
  disabled: 'Your account was disabled, so you have been signed out. Ask a security officer if you still need access.',
  locked:
    'Your account was locked after too many wrong passwords, so you have been signed out. Try again later, or ask a security officer to unlock it.',
  'role-changed': 'A security officer changed your role, so you have been signed out. Sign in again.',
  'password-reset': 'Your password was reset or changed elsewhere, so you have been signed out. Sign in again.',
  'account-changed':
    'Your account was disabled, locked or changed since you signed in (perhaps at another desk), so you have been signed out. Sign in again; if that fails, ask a security officer.',
};

const ALLOWED_BEFORE_PASSWORD_CHANGE = new Set(['auth:status', 'auth:signOut', 'auth:changePassword', 'system:info']);

function validationError(error: z.ZodError): AppError {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = issue.path.join('.') || '_';
    fields[key] ??= issue.message;
  }
  const first = Object.entries(fields)[0];
  const message = first ? `Check the input: ${first[0] === '_' ? '' : `${first[0]}: `}${first[1]}` : 'Check the input.';
  return new AppError('VALIDATION', message, { fields: JSON.stringify(fields) });
}

import { AsyncLocalStorage } from 'node:async_hooks';
import type { z } from 'zod';
import { contract as defaultContract, type ChannelDef, type ContractError, type Result } from '../../shared/contract';
import { AppError, isAppError } from '../errors';
import type { Session, SessionStore } from '../auth/session.store';
import type { AuditTrail } from '../audit/audit.service';
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
}

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

    const found = this.deps.sessions.get(clientId);
    if (!found.session && found.expired) this.deps.onSessionExpired(clientId, found.expired);
    const session = found.session;
    if (def.access !== 'public') {
      if (!session) {
        throw new AppError(
          'AUTH_REQUIRED',
          found.expired ? 'Your session timed out. Sign in again.' : 'Sign in first.',
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

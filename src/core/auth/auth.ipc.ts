import type { authChannels } from '../../shared/contract/auth.contract';
import type { HandlersFor } from '../rpc/router';
import type { AuthService } from './auth.service';
import type { SessionStore } from './session.store';

export function authHandlers(auth: AuthService, sessions: SessionStore): HandlersFor<typeof authChannels> {
  return {
    'auth:status': async (_input, ctx) => ({
      firstRun: await auth.isFirstRun(),
      session: ctx.session ? auth.describe(ctx.session) : null,
    }),
    'auth:setupFirstOfficer': (input, ctx) => auth.setupFirstOfficer(ctx.clientId, input),
    'auth:signIn': (input, ctx) => auth.signIn(ctx.clientId, input.username, input.password),
    'auth:signOut': async (_input, ctx) => {
      await auth.signOut(ctx.clientId, ctx.session);
      sessions.delete(ctx.clientId);
      return { done: true } as const;
    },
    'auth:changePassword': async (input, ctx) => {
      await auth.changePassword(ctx.clientId, ctx.session, input.currentPassword, input.newPassword);
      return { done: true } as const;
    },
  };
}

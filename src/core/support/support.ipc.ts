import type { supportChannels } from '../../shared/contract/support.contract';
import type { Session } from '../auth/session.store';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { SupportActor, SupportService } from './support.service';

const actorOf = (s: Session): SupportActor => ({ operatorId: s.operatorId, operator: s.username, role: s.role });

export function supportHandlers(deps: {
  service: SupportService;
  events: EventBus;
}): HandlersFor<typeof supportChannels> {
  const changed = (domains: string[]) => deps.events.emit('data:changed', { domains });
  return {
    'support:report': async (input, ctx) => {
      const r = await deps.service.report(input, actorOf(ctx.session));
      if (r.created) changed(['support', 'customers', 'lists', 'cards']);
      return r;
    },
    'support:cases': ({ limit }) => deps.service.list(limit),
    'support:case': ({ caseId }) => deps.service.get(caseId),
    'support:sendPasskey': async ({ caseId, channel }, ctx) => {
      const c = await deps.service.sendPasskey(caseId, channel, actorOf(ctx.session));
      changed(['support']);
      return c;
    },
    'support:enterPasskey': async ({ caseId, passkey }, ctx) => {
      const r = await deps.service.enterPasskey(caseId, passkey, actorOf(ctx.session));
      changed(['support']);
      return r;
    },
    'support:identityProcedure': async (input, ctx) => {
      const c = await deps.service.identityProcedure(ctx.session, input);
      changed(['support']);
      return c;
    },
  };
}

import type { pushChannels } from '../../shared/contract/push.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { PushService } from './push.service';

export function pushHandlers(deps: { service: PushService; events: EventBus }): HandlersFor<typeof pushChannels> {
  return {
    'push:pushNext': ({ reader }, ctx) =>
      deps.service.pushNext(
        reader,
        { operatorId: ctx.session.operatorId, operator: ctx.session.username, role: ctx.session.role },
        (step, sent, total) =>
          deps.events.emitTo(ctx.clientId, 'push:progress', {
            reader,
            step,
            ...(sent !== undefined ? { sent } : {}),
            ...(total !== undefined ? { total } : {}),
          }),
      ),
  };
}

import type { pushChannels } from '../../shared/contract/push.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { PushService } from './push.service';
import type { SealModeService } from './seal-mode.service';

export function pushHandlers(deps: {
  service: PushService;
  sealMode: SealModeService;
  events: EventBus;
}): HandlersFor<typeof pushChannels> {
  return {
    'cards:setSealMode': ({ reader, mode }, ctx) =>
      deps.sealMode.setSealMode(reader, mode, {
        operatorId: ctx.session.operatorId,
        operator: ctx.session.username,
        role: ctx.session.role,
      }),
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

import type { pushChannels } from '../../shared/contract/push.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { PushService, PushStep } from './push.service';
import type { SealModeService } from './seal-mode.service';
import type { SmsExportService } from './sms-export.service';

/** Progress of a push as `push:progress` events to the one window that asked. */
export function pushProgressTo(
  events: EventBus,
  clientId: string,
  reader: string,
): (step: PushStep, sent?: number, total?: number) => void {
  return (step, sent, total) =>
    events.emitTo(clientId, 'push:progress', {
      reader,
      step,
      ...(sent !== undefined ? { sent } : {}),
      ...(total !== undefined ? { total } : {}),
    });
}

export function pushHandlers(deps: {
  service: PushService;
  sealMode: SealModeService;
  sms: SmsExportService;
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
        pushProgressTo(deps.events, ctx.clientId, reader),
      ),
    'push:exportSms': async ({ n }, ctx) => {
      const sent = await deps.sms.exportQueued(n, {
        operatorId: ctx.session.operatorId,
        operator: ctx.session.username,
        role: ctx.session.role,
      });
      deps.events.emit('data:changed', { domains: ['lists', 'customers'] });
      return { ...sent, segments: [...sent.segments] };
    },
  };
}

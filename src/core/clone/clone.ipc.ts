import type { cloneChannels } from '../../shared/contract/clone.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { CloneDetectionService } from './clone.service';

export function cloneHandlers(deps: {
  service: CloneDetectionService;
  events: EventBus;
}): HandlersFor<typeof cloneChannels> {
  return {
    'clone:compareCounters': ({ reader }, ctx) =>
      deps.service.compareCounters(reader, {
        operatorId: ctx.session.operatorId,
        operator: ctx.session.username,
        role: ctx.session.role,
      }),
    'clone:suspicions': ({ n }) => deps.service.suspicions(n),
    'clone:disableTable': async ({ n, seq }, ctx) => {
      const done = await deps.service.disableTable(n, seq, {
        operatorId: ctx.session.operatorId,
        operator: ctx.session.username,
        role: ctx.session.role,
      });
      deps.events.emit('data:changed', { domains: ['lists', 'customers'] });
      return done;
    },
    'clone:resolve': ({ n, id, resolution }, ctx) =>
      deps.service.resolve(n, id, resolution, {
        operatorId: ctx.session.operatorId,
        operator: ctx.session.username,
        role: ctx.session.role,
      }),
  };
}

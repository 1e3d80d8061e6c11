import type { policyChannels } from '../../shared/contract/policy.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { PolicyService } from './policy.service';

export interface PolicyHandlerDeps {
  readonly policies: PolicyService;
  readonly events?: EventBus;
}

export function policyHandlers(deps: PolicyHandlerDeps): HandlersFor<typeof policyChannels> {
  const { policies } = deps;
  return {
    'policy:get': () => policies.latest(),
    'policy:history': async (input) => ({ versions: await policies.history(input.limit) }),
    'policy:update': async (input, ctx) => {
      const saved = await policies.update(ctx.session, input);
      deps.events?.emit('data:changed', { domains: ['policy'] });
      return saved;
    },
  };
}

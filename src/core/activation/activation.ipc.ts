import type { activationChannels } from '../../shared/contract/activation.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { ActivationService } from './activation.service';

/** The contract's activation and card-page channels onto the service; every change refetches the card views. */
export function activationHandlers(
  service: ActivationService,
  events?: EventBus,
): HandlersFor<typeof activationChannels> {
  const changed = <T>(value: T): T => {
    events?.emit('data:changed', { domains: ['cards', 'activation'] });
    return value;
  };
  return {
    'activation:activate': async (input, ctx) => changed(await service.activate(input, ctx.session, ctx.clientId)),
    'activation:unblock': async (input, ctx) => changed(await service.unblock(input, ctx.session)),
    'cards:rotateKey': async (input, ctx) => changed(await service.rotateKey(input, ctx.session)),
    'cards:inReader': async (input, ctx) => service.inReader(input.reader, ctx.session),
  };
}

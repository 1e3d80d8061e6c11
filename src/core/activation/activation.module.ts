import type { Core, FeatureModule } from '../feature-module';
import { activationHandlers } from './activation.ipc';
import { ActivationService } from './activation.service';

/**
 * Activation at the desk, unblocking and card-key rotation, and the card page. `service` is
 * exposed so the composition root can connect what follows activation (the first list) through
 * `service.afterActivation(...)`.
 */
export function activationModule(
  core: Core,
): FeatureModule<ReturnType<typeof activationHandlers>> & { readonly service: ActivationService } {
  const { monitor } = core;
  const service = new ActivationService({
    readers: core.readers,
    keystore: {
      run: (actor, fn) => core.keystore.run(actor, fn),
      locked: () => core.keystore.currentOrNull() === null,
    },
    cards: core.repos.cards,
    customers: core.repos.customers,
    dualControl: core.dualControl,
    audit: core.audit,
    atomically: core.repos.atomically,
    log: core.log,
    ...(monitor ? { refreshReader: (reader: string) => monitor.refresh(reader) } : {}),
  });
  return { service, handlers: activationHandlers(service, core.events) };
}

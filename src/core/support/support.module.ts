import type { Core, FeatureModule } from '../feature-module';
import { InboundPasskeyListener } from './inbound-listener';
import { passkeySenders } from './passkey-delivery';
import { checkSupportSettings, supportSettingsFromEnv } from './support-settings';
import { supportHandlers } from './support.ipc';
import { SupportService } from './support.service';

/**
 * Support cases (docs/support.md): report a card, verify the customer out of band, lock out after
 * wrong passkeys. `service` is also the reissue's gate (verifiedCase, markReissued). The claim-3
 * inbound listener starts with the workstation when configured; `inboundPort` says where it bound.
 */
export function supportModule(core: Core): FeatureModule<ReturnType<typeof supportHandlers>> & {
  readonly service: SupportService;
  readonly inboundPort: () => Promise<number | null>;
} {
  const settings = core.opts.support ?? supportSettingsFromEnv(process.env);
  checkSupportSettings(settings);
  const senders = passkeySenders(settings);
  const service = new SupportService({
    cases: core.repos.supportCases,
    cards: core.repos.cards,
    customers: core.repos.customers,
    events: core.repos.verificationEvents,
    keystore: core.keystore,
    audit: core.audit,
    atomically: core.repos.atomically,
    policies: core.policies,
    dualControl: core.dualControl,
    senders,
    inboundAddress: settings.inbound?.address ?? null,
    log: core.log,
    ...(core.opts.now ? { now: core.opts.now } : {}),
  });
  const listener = settings.inbound
    ? new InboundPasskeyListener(settings.inbound, (from, text) => service.receiveInbound(from, text), core.log)
    : null;
  let bound: Promise<number | null> = Promise.resolve(null);
  return {
    handlers: supportHandlers({ service, events: core.events }),
    service,
    inboundPort: () => bound,
    start: () => {
      if (!listener) return;
      bound = listener.start().catch((err: unknown) => {
        // The desk works without it (the passkey is read back at the desk); the log says why.
        core.log.error('inbound mail listener did not start', { error: err instanceof Error ? err.message : 'error' });
        return null;
      });
      return () => listener.close();
    },
    close: () => {
      senders.email?.close?.();
    },
  };
}

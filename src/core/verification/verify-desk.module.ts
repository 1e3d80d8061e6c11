import type { Core, FeatureModule } from '../feature-module';
import type { ListService } from '../lists/list.service';
import { ClientCertificateService } from './client-certificate.service';
import type { VerificationService } from './verification.service';
import { verifyDeskHandlers } from './verify-desk.ipc';
import { VerifyClientService } from './verify-client.service';

/**
 * The verification service at the desk: its clients (API keys, client certificates from the bank CA
 * of this keystore) and the lockout and refill state on the card pages. Takes the lists module's
 * `verify` and list service: the lockout is core verify's, not a second one.
 */
export function verifyDeskModule(
  core: Core,
  deps: { verification: VerificationService; lists: ListService },
): FeatureModule<ReturnType<typeof verifyDeskHandlers>> {
  const clients = new VerifyClientService(core.repos.verifyClients, core.audit, undefined, {
    atomically: core.repos.atomically,
  });
  return {
    handlers: verifyDeskHandlers({
      clients,
      certificates: new ClientCertificateService(
        core.repos.clientCertificates,
        core.keystore,
        core.audit,
        undefined,
        core.repos.atomically,
      ),
      verification: deps.verification,
      lists: deps.lists,
      cards: core.repos.cards,
      dualControl: core.dualControl,
      audit: core.audit,
      events: core.events,
    }),
  };
}

import { join } from 'node:path';
import { TrainingReaderService } from '../card/training-reader';
import type { Core, FeatureModule } from '../feature-module';
import { RepositoryCustomerPicker } from './customer-picker.repository';
import { enrollmentHandlers } from './enrollment.ipc';
import { EnrollmentService } from './enrollment.service';
import { TrainingStock } from './training-stock';

/** The Enroll page: customer search, the card in the chosen reader, enrollment and its retry; training cards. */
export function enrollmentModule(
  core: Core,
): FeatureModule<ReturnType<typeof enrollmentHandlers>> & { readonly service: EnrollmentService } {
  const cards = core.repos.cards;
  const customers = new RepositoryCustomerPicker(core.repos.customers, cards);
  const monitor = core.monitor;
  const service = new EnrollmentService({
    cards,
    customers,
    readers: core.readers,
    keystore: core.keystore,
    audit: core.audit,
    atomically: core.repos.atomically,
    log: core.log,
    retries: () => {
      const p = core.policies.current();
      return { pinTries: p.pinRetries, activationTries: p.activationRetries };
    },
    ...(monitor ? { refreshReader: (reader: string) => monitor.refresh(reader) } : {}),
  });
  // The practice cards come from the process entry (the core does not import the card simulator).
  const makeCards = core.opts.trainingCards;
  const training =
    core.readers instanceof TrainingReaderService && makeCards
      ? new TrainingStock(makeCards(join(core.opts.dataDir, 'training-cards')), core.readers)
      : null;
  return {
    service, // the reissue enrolls its new card through this same service
    handlers: enrollmentHandlers({ service, customers, events: core.events, audit: core.audit, training }),
    close: () => training?.remove(),
  };
}

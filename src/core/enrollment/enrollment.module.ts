import { join } from 'node:path';
import { TrainingReaderService } from '../card/training-reader';
import { SqliteCardRepository } from '../cards/card.repository';
import type { Core, FeatureModule } from '../feature-module';
import { SqliteCustomerPicker } from './customer-picker.repository';
import { enrollmentHandlers } from './enrollment.ipc';
import { EnrollmentService } from './enrollment.service';
import { TrainingStock } from './training-stock';

/** The Enroll page: customer search, the card in the chosen reader, enrollment and its retry; training cards. */
export function enrollmentModule(core: Core): FeatureModule<ReturnType<typeof enrollmentHandlers>> {
  const customers = new SqliteCustomerPicker(core.db);
  const monitor = core.monitor;
  const service = new EnrollmentService({
    cards: new SqliteCardRepository(core.db),
    customers,
    readers: core.readers,
    keystore: core.keystore,
    audit: core.audit,
    log: core.log,
    retries: () => {
      const p = core.policies.current();
      return { pinTries: p.pinRetries, activationTries: p.activationRetries };
    },
    ...(monitor ? { refreshReader: (reader: string) => monitor.refresh(reader) } : {}),
  });
  const training =
    core.readers instanceof TrainingReaderService
      ? new TrainingStock(join(core.opts.dataDir, 'training-cards'), core.readers)
      : null;
  return {
    handlers: enrollmentHandlers({ service, customers, events: core.events, audit: core.audit, training }),
    close: () => training?.remove(),
  };
}

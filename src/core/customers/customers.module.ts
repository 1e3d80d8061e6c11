import { SqliteCardRepository } from '../cards/card.repository';
import type { Core, FeatureModule } from '../feature-module';
import { SqliteCustomerHistoryRepository } from './customer-history.repository';
import { SqliteCustomerRepository } from './customer.repository';
import { CustomerService } from './customer.service';
import { customersHandlers } from './customers.ipc';

/** Customers: records, search, the duplicate warning and the customer page. */
export function customersModule(core: Core): FeatureModule<ReturnType<typeof customersHandlers>> {
  const clock = core.opts.now;
  const customers = new CustomerService({
    customers: new SqliteCustomerRepository(core.db),
    cards: new SqliteCardRepository(core.db),
    history: new SqliteCustomerHistoryRepository(core.db),
    audit: core.audit,
    ...(clock ? { now: () => new Date(clock()) } : {}),
  });
  return { handlers: customersHandlers({ customers, events: core.events }) };
}

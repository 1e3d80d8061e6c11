import type { Core, FeatureModule } from '../feature-module';
import { CustomerService } from './customer.service';
import { customersHandlers } from './customers.ipc';

/** Customers: records, search, the duplicate warning and the customer page. */
export function customersModule(core: Core): FeatureModule<ReturnType<typeof customersHandlers>> {
  const clock = core.opts.now;
  const customers = new CustomerService({
    customers: core.repos.customers,
    cards: core.repos.cards,
    history: core.repos.customerHistory,
    audit: core.audit,
    atomically: core.repos.atomically,
    ...(clock ? { now: () => new Date(clock()) } : {}),
  });
  return { handlers: customersHandlers({ customers, events: core.events }) };
}

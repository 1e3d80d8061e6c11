import type { customersChannels } from '../../shared/contract/customers.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { CustomerService } from './customer.service';

export function customersHandlers(deps: {
  readonly customers: CustomerService;
  readonly events?: EventBus;
}): HandlersFor<typeof customersChannels> {
  const { customers } = deps;
  // Other windows showing a customer list or page refetch it after a save.
  const changed = <T extends { status: string }>(value: T): T => {
    if (value.status === 'saved') deps.events?.emit('data:changed', { domains: ['customers'] });
    return value;
  };
  return {
    'customers:create': async (input, ctx) =>
      changed(await customers.create(ctx.session, input.customer, input.confirmDuplicates)),
    'customers:update': async (input, ctx) =>
      changed(await customers.update(ctx.session, input.id, input.version, input.customer, input.confirmDuplicates)),
    'customers:get': (input) => customers.get(input.id),
    'customers:search': (input) => customers.search(input),
  };
}

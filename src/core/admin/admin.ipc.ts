import type { adminChannels } from '../../shared/contract/admin.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { AdminService } from './admin.service';

export interface AdminHandlerDeps {
  readonly admin: AdminService;
  readonly events?: EventBus;
}

export function adminHandlers(deps: AdminHandlerDeps): HandlersFor<typeof adminChannels> {
  const { admin } = deps;
  // Other windows showing the operator list refetch it.
  const changed = <T>(value: T): T => {
    deps.events?.emit('data:changed', { domains: ['operators'] });
    return value;
  };
  return {
    'admin:listOperators': () => ({ operators: admin.list() }),
    'admin:createOperator': async (input, ctx) => changed(await admin.create(ctx.session, input)),
    'admin:updateRole': (input, ctx) => changed(admin.updateRole(ctx.session, input.operatorId, input.role)),
    'admin:disableOperator': (input, ctx) => changed(admin.disable(ctx.session, input.operatorId)),
    'admin:enableOperator': (input, ctx) => changed(admin.enable(ctx.session, input.operatorId)),
    'admin:resetPassword': async (input, ctx) =>
      changed(await admin.resetPassword(ctx.session, input.operatorId, input.temporaryPassword)),
    'admin:unlockOperator': async (input, ctx) => changed(await admin.unlock(ctx.session, input.username, input.approval)),
  };
}

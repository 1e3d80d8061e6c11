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
    'admin:listOperators': async () => ({ operators: await admin.list() }),
    'admin:createOperator': async (input, ctx) => changed(await admin.create(ctx.session, input)),
    'admin:updateRole': async (input, ctx) =>
      changed(await admin.updateRole(ctx.session, input.operatorId, input.role, input.approval)),
    'admin:disableOperator': async (input, ctx) =>
      changed(await admin.disable(ctx.session, input.operatorId, input.approval)),
    'admin:enableOperator': async (input, ctx) =>
      changed(await admin.enable(ctx.session, input.operatorId, input.approval)),
    'admin:resetPassword': async (input, ctx) =>
      changed(await admin.resetPassword(ctx.session, input.operatorId, input.temporaryPassword, input.approval)),
    'admin:unlockOperator': async (input, ctx) =>
      changed(await admin.unlock(ctx.session, input.username, input.approval)),
  };
}

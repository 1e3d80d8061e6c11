import type { Core, FeatureModule } from '../feature-module';
import { adminHandlers } from './admin.ipc';
import { AdminService } from './admin.service';

/** Operators: create, re-role, disable, reset, unlock (Admin page). */
export function adminModule(core: Core): FeatureModule<ReturnType<typeof adminHandlers>> {
  const admin = new AdminService(core.operators, core.sessions, core.audit, core.dualControl, core.opts.now);
  return { handlers: adminHandlers({ admin, events: core.events }) };
}

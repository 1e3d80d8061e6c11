import type { Core, FeatureModule } from '../feature-module';
import { policyHandlers } from './policy.ipc';
import { PolicyService } from './policy.service';

/** Versioned policies, changed under dual control (Admin page). */
export function policyModule(core: Core): FeatureModule<ReturnType<typeof policyHandlers>> {
  const policies = new PolicyService(core.policyVersions, core.dualControl);
  return { handlers: policyHandlers({ policies, events: core.events }) };
}

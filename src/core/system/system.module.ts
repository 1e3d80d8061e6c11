import type { Core, FeatureModule } from '../feature-module';
import { systemHandlers } from './system.ipc';

/** Version, data location and the dashboard's figures. */
export function systemModule(core: Core): FeatureModule<ReturnType<typeof systemHandlers>> {
  return { handlers: systemHandlers(core.repos.system, core.opts, core.audit) };
}

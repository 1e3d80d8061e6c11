import type { Core, FeatureModule } from '../feature-module';
import { UsageCsvExport } from './usage-csv';
import { usageHandlers } from './usage.ipc';

/** The usage review for managers, auditors and support (docs/usage-review.md): read-only. */
export function usageModule(
  core: Core,
): FeatureModule<ReturnType<typeof usageHandlers>> & { readonly csv: UsageCsvExport } {
  const usage = core.repos.usage;
  const csv = new UsageCsvExport({ usage, sessions: core.sessions, audit: core.audit });
  return { handlers: usageHandlers({ usage, csv, saveFile: core.opts.saveFile }), csv };
}

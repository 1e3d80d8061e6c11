import type { usageChannels } from '../../shared/contract/usage.contract';
import type { HandlersFor } from '../rpc/router';
import type { FileSaver, UsageCsvExport } from './usage-csv';
import type { UsageRepository } from './usage.repository';

export function usageHandlers(deps: {
  readonly usage: UsageRepository;
  readonly csv: UsageCsvExport;
  readonly saveFile?: FileSaver | undefined;
}): HandlersFor<typeof usageChannels> {
  const { usage } = deps;
  return {
    'usage:summary': (input) => usage.summary(input.filter),
    'usage:rows': async (input) => ({
      page: input.page,
      pageSize: input.pageSize,
      ...(await usage.rows(input)),
    }),
    'usage:suspicions': async (input) => ({
      page: input.page,
      pageSize: input.pageSize,
      ...(await usage.suspicions(input.filter, input.openOnly, input.page, input.pageSize)),
    }),
    'usage:export': (input, ctx) => deps.csv.saveTo(ctx.session, input.filter, input.by, deps.saveFile),
  };
}

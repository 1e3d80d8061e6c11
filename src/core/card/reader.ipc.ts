import type { readerChannels } from '../../shared/contract/reader.contract';
import { AppError } from '../errors';
import type { HandlersFor } from '../rpc/router';
import type { ReaderMonitor } from './reader-monitor.service';

export function readerHandlers(monitor: ReaderMonitor | null): HandlersFor<typeof readerChannels> {
  const none = () => ({
    service: 'unavailable' as const,
    message: 'This workstation runs without a card reader service.',
    readers: [],
  });
  return {
    'reader:status': () => monitor?.snapshot() ?? none(),
    'reader:refresh': async ({ reader }) => {
      if (!monitor) return none();
      if (!monitor.snapshot().readers.some((r) => r.name === reader)) {
        throw new AppError(
          'READER_NOT_FOUND',
          `There is no reader called "${reader}". Check the cable, then pick a reader from the list.`,
        );
      }
      await monitor.refresh(reader);
      return monitor.snapshot();
    },
  };
}

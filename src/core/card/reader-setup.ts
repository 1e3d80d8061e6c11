import type { Logger } from '../log';
import type { EventBus } from '../rpc/event-bus';
import { isOtacAtr } from './protocol/atr';
import { ReaderMonitor } from './reader-monitor.service';
import { PcscReaderService } from './reader.service';
import { TrainingReaderService } from './training-reader';
import type { CardReaderService } from './reader.types';

/**
 * Which card readers a workstation uses: PC/SC (pcscd, physical or vpcd readers), the
 * in-process training reader (no pcscd; cards are inserted by the training workflow), or none.
 */
export type ReaderMode = 'pcsc' | 'training' | 'none';

export function readerModeFromEnv(value: string | undefined): ReaderMode {
  return value === 'training' || value === 'none' ? value : 'pcsc';
}

export function createReaderMonitor(
  mode: ReaderMode,
  events: EventBus,
  log: Logger,
): { monitor: ReaderMonitor | null; readers: CardReaderService | null } {
  if (mode === 'none') {
    events.emit('reader:changed', {
      service: 'unavailable',
      message: 'This workstation runs without a card reader service.',
      readers: [],
    });
    return { monitor: null, readers: null };
  }
  const readers =
    mode === 'training'
      ? new TrainingReaderService({ acceptAtr: isOtacAtr })
      : new PcscReaderService({ acceptAtr: isOtacAtr });
  // Started by the composition root once every module is built (monitor.start()).
  return { monitor: new ReaderMonitor(readers, events, log, mode), readers };
}

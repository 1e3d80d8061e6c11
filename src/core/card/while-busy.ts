import { isAppError } from '../errors';
import type { CardReaderService, CardSessionInfo, WithCardOptions } from './reader.types';
import type { CardTransport } from './transport';

/**
 * Runs `use` (a withCard call), waiting out a short CARD_BUSY: the reader monitor reads every card
 * as it goes in and after each workflow, and the next step (a click, or the push that follows an
 * activation) may land in that moment. CARD_BUSY comes before the card is used, so trying again
 * repeats nothing; anything else fails at once.
 */
export async function whileCardBusy<T>(use: () => Promise<T>, attempts = 10, delayMs = 150): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await use();
    } catch (err) {
      if (!isAppError(err) || err.code !== 'CARD_BUSY' || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** `readers.withCard`, waiting out a short CARD_BUSY (see whileCardBusy). */
export function patiently<T>(
  readers: CardReaderService,
  reader: string,
  fn: (transport: CardTransport, card: CardSessionInfo) => Promise<T>,
  options?: WithCardOptions,
): Promise<T> {
  return whileCardBusy(() => readers.withCard(reader, fn, options));
}

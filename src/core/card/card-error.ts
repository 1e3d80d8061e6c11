import { AppError } from '../errors';
import { describeStatusWord } from './status-words';

/**
 * Anything that goes wrong talking to a card: a status word the card returned, a response
 * that does not parse, or a cryptographic check that failed. `sw` is set when the card answered.
 */
export class CardError extends AppError {
  readonly sw: number | undefined;

  constructor(code: string, message: string, sw?: number) {
    super(code, message, sw === undefined ? undefined : { sw: swHex(sw) });
    this.name = 'CardError';
    this.sw = sw;
  }
}

export function isCardError(err: unknown): err is CardError {
  return err instanceof CardError;
}

export function swHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

/** The error for a status word other than the expected ones, with the table's advice. */
export function cardStatusError(sw: number, operation: string): CardError {
  const d = describeStatusWord(sw);
  return new CardError(
    `CARD_SW_${swHex(sw)}`,
    `${operation}: the card answered ${swHex(sw)} (${d.name}). ${d.action}`,
    sw,
  );
}

/** A response or data field that does not follow the profile. */
export function malformed(what: string): CardError {
  return new CardError(
    'CARD_RESPONSE_MALFORMED',
    `The card sent a malformed ${what}. Remove and re-insert the card and retry; if it repeats, the card may be faulty or not an OTAC card.`,
  );
}

import { AppError } from '../errors';

/**
 * Reader and card-presence errors, each telling the operator what to do next. PC/SC result
 * codes (as pcsclite formats them, "...(0x80100069)") are mapped to these codes.
 */
export const readerErrors = {
  none: (): AppError => new AppError('READER_NONE', 'No card reader is connected. Plug in the reader and try again.'),
  notFound: (reader: string): AppError =>
    new AppError(
      'READER_NOT_FOUND',
      `The reader "${reader}" is not connected any more. Check its cable, or choose another reader.`,
      { reader },
    ),
  cardAbsent: (reader: string): AppError =>
    new AppError('CARD_ABSENT', `There is no card in "${reader}". Insert the card and try again.`, { reader }),
  cardMute: (reader: string): AppError =>
    new AppError(
      'CARD_MUTE',
      `The card in "${reader}" does not answer. Take it out, check it goes in chip first, and insert it again.`,
      { reader },
    ),
  cardUnknown: (reader: string, atr: string): AppError =>
    new AppError(
      'CARD_UNKNOWN',
      `The card in "${reader}" is not an OTAC card. Take it out and use a card from the OTAC stock.`,
      { reader, atr },
    ),
  cardBusy: (reader: string): AppError =>
    new AppError(
      'CARD_BUSY',
      `The card in "${reader}" is being used by another operation or program. Wait for it to finish and try again.`,
      { reader },
    ),
  cardRemoved: (reader: string): AppError =>
    new AppError(
      'CARD_REMOVED',
      `The card was taken out of "${reader}" (or lost contact) during the operation. Insert it again and repeat the operation.`,
      { reader },
    ),
  cardTimeout: (reader: string, ms: number): AppError =>
    new AppError(
      'CARD_TIMEOUT',
      `The card in "${reader}" stopped answering (nothing for ${(ms / 1000).toFixed(1)} s). Take it out, insert it again and repeat the operation.`,
      { reader, timeoutMs: ms },
    ),
  pcscDown: (): AppError =>
    new AppError(
      'PCSC_DOWN',
      'The smart card service (pcscd) is not running. The workstation reconnects by itself when it is back; if this lasts, ask IT to start the PC/SC service.',
    ),
  reader: (reader: string, pcscCode: string): AppError =>
    new AppError(
      'READER_ERROR',
      `The reader "${reader}" reported an error (PC/SC ${pcscCode}). Take the card out, insert it again and retry; if it repeats, reconnect the reader.`,
      { reader, pcscCode },
    ),
};

const SCARD_E_SHARING_VIOLATION = 0x8010000b;
const SCARD_E_NO_SMARTCARD = 0x8010000c;
const SCARD_E_NOT_READY = 0x80100010;
const SCARD_E_NOT_TRANSACTED = 0x80100016;
const SCARD_E_READER_UNAVAILABLE = 0x80100017;
const SCARD_E_UNKNOWN_READER = 0x80100009;
const SCARD_E_NO_SERVICE = 0x8010001d;
const SCARD_E_SERVICE_STOPPED = 0x8010001e;
const SCARD_E_INVALID_HANDLE = 0x80100003;
const SCARD_E_COMM_DATA_LOST = 0x8010002f;
const SCARD_F_COMM_ERROR = 0x80100013;
const SCARD_W_UNRESPONSIVE_CARD = 0x80100066;
const SCARD_W_UNPOWERED_CARD = 0x80100067;
const SCARD_W_RESET_CARD = 0x80100068;
const SCARD_W_REMOVED_CARD = 0x80100069;

/** The PC/SC result code inside a pcsclite error message, if any. */
export function pcscCode(err: unknown): number | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const match = /\(0x([0-9a-f]{8})\)/i.exec(message);
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], 16);
}

export function isServiceGone(err: unknown): boolean {
  const code = pcscCode(err);
  return code === SCARD_E_NO_SERVICE || code === SCARD_E_SERVICE_STOPPED || code === SCARD_F_COMM_ERROR;
}

/** Maps a pcsclite error from connect/transmit/disconnect to the operator-facing error. */
export function fromPcscError(err: unknown, reader: string): AppError {
  const code = pcscCode(err);
  switch (code) {
    case SCARD_E_NO_SERVICE:
    case SCARD_E_SERVICE_STOPPED:
    case SCARD_F_COMM_ERROR:
      // F_COMM_ERROR is pcsclite's client losing its socket to pcscd ("RPC transport error").
      return readerErrors.pcscDown();
    case SCARD_E_SHARING_VIOLATION:
      return readerErrors.cardBusy(reader);
    case SCARD_E_NO_SMARTCARD:
      return readerErrors.cardAbsent(reader);
    case SCARD_E_UNKNOWN_READER:
    case SCARD_E_READER_UNAVAILABLE:
      return readerErrors.notFound(reader);
    case SCARD_W_UNRESPONSIVE_CARD:
      return readerErrors.cardMute(reader);
    case SCARD_W_REMOVED_CARD:
    case SCARD_W_RESET_CARD:
    case SCARD_W_UNPOWERED_CARD:
    case SCARD_E_NOT_READY:
    case SCARD_E_NOT_TRANSACTED:
    case SCARD_E_INVALID_HANDLE:
    case SCARD_E_COMM_DATA_LOST:
      // The driver lost the card mid-exchange (pcscd reports a failed IFD transmit as NOT_TRANSACTED).
      return readerErrors.cardRemoved(reader);
    default:
      return readerErrors.reader(reader, code === undefined ? 'unknown' : `0x${code.toString(16)}`);
  }
}

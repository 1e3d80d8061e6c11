import { AppError } from '../errors';
import { fromPcscError, readerErrors } from './reader-errors';
import type { CardTransport } from './transport';

/** The part of a pcsclite CardReader we use; pcsclite's class satisfies it structurally. */
export interface PcscReader {
  readonly name: string;
  readonly SCARD_SHARE_SHARED: number;
  readonly SCARD_SHARE_EXCLUSIVE: number;
  readonly SCARD_PROTOCOL_T0: number;
  readonly SCARD_PROTOCOL_T1: number;
  readonly SCARD_STATE_EMPTY: number;
  readonly SCARD_STATE_PRESENT: number;
  readonly SCARD_STATE_MUTE: number;
  readonly SCARD_LEAVE_CARD: number;
  readonly SCARD_RESET_CARD: number;
  connect(options: { share_mode?: number; protocol?: number }, cb: (err: unknown, protocol: number) => void): void;
  disconnect(disposition: number, cb: (err: unknown) => void): void;
  transmit(data: Buffer, resLen: number, protocol: number, cb: (err: unknown, response: Buffer) => void): void;
  close(): void;
}

/** Extended Ne (65536) plus SW1 SW2: the largest R-APDU any command can produce. */
const MAX_RESPONSE = 65538;

/** A native call that outlived its timeout: it still holds the reader's lock until it returns. */
export class NativeCallHung extends Error {
  constructor(readonly settled: Promise<void>) {
    super('native PC/SC call did not return in time');
  }
}

/**
 * Races a pcsclite callback call against a timer. pcsclite cannot cancel a call, so on
 * timeout we reject with NativeCallHung carrying a promise of the call's eventual end.
 */
export function nativeCall<T>(timeoutMs: number, start: (cb: (err: unknown, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let finished: () => void = () => undefined;
    const settled = new Promise<void>((done) => {
      finished = done;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new NativeCallHung(settled));
    }, timeoutMs);
    start((err, value) => {
      finished();
      if (timedOut) return;
      clearTimeout(timer);
      if (err) reject(err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err)));
      else resolve(value);
    });
  });
}

/**
 * CardTransport over a connected pcsclite reader, valid for one withCard() session. Every
 * exchange has a timeout (a hung card would otherwise block forever); a response shorter
 * than a status word means the card died mid-APDU (pcsclite reports no error for that).
 */
export class PcscTransport implements CardTransport {
  private closed = false;
  /** Set when an exchange timed out; the reader stays locked until this settles. */
  hung: Promise<void> | undefined;
  /** Wire bytes both ways, for the benchmark and diagnostics. */
  bytesSent = 0;
  bytesReceived = 0;
  exchanges = 0;

  constructor(
    private readonly reader: PcscReader,
    private readonly protocol: number,
    private readonly timeoutMs: number,
  ) {}

  async transmit(command: Buffer): Promise<Buffer> {
    if (this.hung) throw readerErrors.cardTimeout(this.reader.name, this.timeoutMs);
    if (this.closed) {
      throw new AppError(
        'CARD_SESSION_CLOSED',
        'A card command was sent after its operation ended. This is a software fault; report it.',
      );
    }
    let response: Buffer;
    try {
      response = await nativeCall<Buffer>(this.timeoutMs, (cb) =>
        this.reader.transmit(command, MAX_RESPONSE, this.protocol, cb),
      );
    } catch (err) {
      if (err instanceof NativeCallHung) {
        this.hung = err.settled;
        throw readerErrors.cardTimeout(this.reader.name, this.timeoutMs);
      }
      throw fromPcscError(err, this.reader.name);
    }
    this.exchanges += 1;
    this.bytesSent += command.length;
    this.bytesReceived += response.length;
    if (response.length < 2) throw readerErrors.cardRemoved(this.reader.name);
    return response;
  }

  close(): void {
    this.closed = true;
  }
}

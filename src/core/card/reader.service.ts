import pcsclite from 'pcsclite';
import { isAppError } from '../errors';
import { NativeCallHung, nativeCall, PcscTransport, type PcscReader } from './pcsc.transport';
import { fromPcscError, isServiceGone, readerErrors } from './reader-errors';
import { ReaderEvents } from './reader-events';
import type {
  CardReaderService,
  CardSessionInfo,
  ReaderEventListener,
  ReaderInfo,
  ReaderSnapshot,
  ServiceState,
  WithCardOptions,
} from './reader.types';
import type { CardTransport } from './transport';

/** A pcsclite reader as we watch it (its 'status' events come from pcscd). */
export interface PcscWatchedReader extends PcscReader {
  on(event: 'status', listener: (status: { state: number; atr?: Buffer }) => void): this;
  on(event: 'error', listener: (error: unknown) => void): this;
  on(event: 'end', listener: () => void): this;
}

/** A pcsclite context; creating one throws while pcscd is down. */
export interface PcscContext {
  on(event: 'reader', listener: (reader: PcscWatchedReader) => void): this;
  on(event: 'error', listener: (error: unknown) => void): this;
  close(): void;
}

export interface PcscReaderServiceOptions {
  /** Per-exchange limit unless withCard says otherwise. Real cards answer in 5–50 ms. */
  timeoutMs?: number;
  /** How often to try pcscd again while it is down. */
  retryMs?: number;
  /** Which ATRs belong to OTAC cards; others are 'unknown-card' and refused. */
  acceptAtr?: (atr: Buffer) => boolean;
  createContext?: () => PcscContext;
}

interface Entry {
  reader: PcscWatchedReader;
  flags: number;
  eventCount: number;
  atr: Buffer | undefined;
  busy: boolean;
  /** A native call on this reader timed out and still holds its lock. */
  hung: boolean;
}

/** Lower 16 bits of SCARD_READERSTATE.dwEventState are flags; the upper 16 count card events. */
const FLAG_MASK = 0xffff;

/**
 * Card readers through PC/SC (pcsclite → pcscd). Watches readers in SHARED mode, talks to a
 * card only inside withCard (EXCLUSIVE), and rebuilds its pcsclite context by itself after
 * pcscd goes away, since pcsclite never recovers on its own. Never imports electron.
 */
export class PcscReaderService implements CardReaderService {
  private readonly events = new ReaderEvents();
  private readonly entries = new Map<string, Entry>();
  private context: PcscContext | undefined;
  private state: ServiceState = 'starting';
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly timeoutMs: number;

  constructor(private readonly options: PcscReaderServiceOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  start(): void {
    if (this.state !== 'starting' && this.state !== 'stopped') return;
    this.state = 'starting';
    this.open();
  }

  async stop(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.dropContext();
    this.setState('stopped');
    await Promise.resolve();
  }

  onEvent(listener: ReaderEventListener): () => void {
    return this.events.subscribe(listener);
  }

  snapshot(): ReaderSnapshot {
    return { state: this.state, readers: this.readerInfos() };
  }

  async withCard<T>(
    readerName: string,
    fn: (transport: CardTransport, card: CardSessionInfo) => Promise<T>,
    options: WithCardOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const entry = this.usableEntry(readerName);
    const atr = entry.atr ?? Buffer.alloc(0);
    entry.busy = true;
    this.emitReaders();
    let transport: PcscTransport | undefined;
    let ok = false;
    try {
      const protocol = await this.guard<number>(entry, timeoutMs, (cb) =>
        entry.reader.connect(
          {
            share_mode: entry.reader.SCARD_SHARE_EXCLUSIVE,
            protocol: entry.reader.SCARD_PROTOCOL_T0 | entry.reader.SCARD_PROTOCOL_T1,
          },
          cb,
        ),
      );
      transport = new PcscTransport(entry.reader, protocol, timeoutMs);
      const result = await fn(transport, { reader: readerName, atr: Buffer.from(atr) });
      ok = true;
      return result;
    } finally {
      transport?.close();
      if (transport?.hung) {
        this.markHung(entry, transport.hung);
      } else if (!entry.hung) {
        const reset = options.endWith === 'reset' || !ok;
        await this.release(entry, reset ? entry.reader.SCARD_RESET_CARD : entry.reader.SCARD_LEAVE_CARD, timeoutMs);
      }
      entry.busy = false;
      this.closeIfDropped(entry);
      this.emitReaders();
    }
  }

  /** A reader whose context was dropped mid-session is closed once nothing native runs on it. */
  private closeIfDropped(entry: Entry): void {
    if (this.entries.get(entry.reader.name) === entry || entry.busy || entry.hung) return;
    setImmediate(() => entry.reader.close());
  }

  /** Everything withCard checks before touching the reader, so refusals are instant. */
  private usableEntry(readerName: string): Entry {
    if (this.state !== 'running') throw readerErrors.pcscDown();
    const entry = this.entries.get(readerName);
    if (!entry) throw this.entries.size === 0 ? readerErrors.none() : readerErrors.notFound(readerName);
    if (entry.hung) throw readerErrors.cardTimeout(readerName, this.timeoutMs);
    if (entry.busy) throw readerErrors.cardBusy(readerName);
    const info = this.info(entry);
    if (info.condition === 'empty') throw readerErrors.cardAbsent(readerName);
    if (info.condition === 'mute') throw readerErrors.cardMute(readerName);
    if (info.condition === 'unknown-card') throw readerErrors.cardUnknown(readerName, info.atr ?? '');
    return entry;
  }

  /** A native call with a timeout; on timeout the reader is marked hung until the call returns. */
  private async guard<T>(
    entry: Entry,
    timeoutMs: number,
    start: (cb: (err: unknown, value: T) => void) => void,
  ): Promise<T> {
    try {
      return await nativeCall(timeoutMs, start);
    } catch (err) {
      if (err instanceof NativeCallHung) {
        this.markHung(entry, err.settled);
        throw readerErrors.cardTimeout(entry.reader.name, timeoutMs);
      }
      if (isAppError(err)) throw err;
      throw fromPcscError(err, entry.reader.name);
    }
  }

  private async release(entry: Entry, disposition: number, timeoutMs: number): Promise<void> {
    try {
      await this.guard<void>(entry, timeoutMs, (cb) =>
        entry.reader.disconnect(disposition, (err) => cb(err, undefined)),
      );
    } catch {
      // The card may be gone or pcscd down: the handle is dead either way, nothing to keep.
    }
  }

  /**
   * Further calls on a hung reader would block more libuv threads (and pcsclite's close()
   * would block the event loop), so we refuse them until the stuck call returns; then reset
   * the card so no half-done session survives.
   */
  private markHung(entry: Entry, settled: Promise<void>): void {
    if (entry.hung) return;
    entry.hung = true;
    this.emitReaders();
    void settled.then(async () => {
      await this.release(entry, entry.reader.SCARD_RESET_CARD, this.timeoutMs);
      entry.hung = false;
      this.closeIfDropped(entry);
      this.emitReaders();
    });
  }

  private open(): void {
    this.retryTimer = undefined;
    if (this.state === 'stopped') return;
    let context: PcscContext;
    try {
      context = (this.options.createContext ?? (() => pcsclite()))();
    } catch (err) {
      this.setState('pcscd-down', err instanceof Error ? err.message : String(err));
      this.retryTimer = setTimeout(() => this.open(), this.options.retryMs ?? 250);
      return;
    }
    this.context = context;
    context.on('error', (err) => this.lost(context, err));
    context.on('reader', (reader) => this.addReader(context, reader));
    this.setState('running');
  }

  /** pcscd went away: pcsclite never recovers, so drop the context and build a new one. */
  private lost(context: PcscContext, err: unknown): void {
    if (context !== this.context || this.state === 'stopped') return;
    this.setState('recovering', err instanceof Error ? err.message : String(err));
    this.dropContext();
    // Close outside pcsclite's own callback; the status thread is still winding down.
    this.retryTimer = setTimeout(() => this.open(), 0);
  }

  private dropContext(): void {
    const context = this.context;
    this.context = undefined;
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) {
      if (entry.atr) this.events.emit({ type: 'card-removed', reader: entry.reader.name });
      // close() takes the reader's lock, which a hung transmit holds: never block the loop on it.
      if (!entry.hung && !entry.busy) setImmediate(() => entry.reader.close());
    }
    if (context) setImmediate(() => context.close());
    if (entries.length > 0) this.emitReaders();
  }

  private addReader(context: PcscContext, reader: PcscWatchedReader): void {
    if (context !== this.context) return;
    const entry: Entry = { reader, flags: 0, eventCount: -1, atr: undefined, busy: false, hung: false };
    this.entries.set(reader.name, entry);
    reader.on('error', (err) => {
      // Every reader needs an 'error' listener or Node crashes; a dead service means recovery.
      if (isServiceGone(err)) this.lost(context, err);
    });
    reader.on('end', () => {
      if (this.entries.get(reader.name) !== entry) return;
      this.entries.delete(reader.name);
      if (entry.atr) this.events.emit({ type: 'card-removed', reader: reader.name });
      this.emitReaders();
    });
    reader.on('status', (status) => this.onStatus(entry, status.state, status.atr));
    this.emitReaders();
  }

  private onStatus(entry: Entry, state: number, atr: Buffer | undefined): void {
    if (this.entries.get(entry.reader.name) !== entry) return;
    const flags = state & FLAG_MASK;
    const eventCount = state >>> 16;
    const present = (flags & entry.reader.SCARD_STATE_PRESENT) !== 0;
    const newAtr = present && atr && atr.length > 0 ? Buffer.from(atr) : undefined;
    const name = entry.reader.name;
    // A different event count while present means the card was swapped between two polls.
    const swapped =
      entry.atr !== undefined && newAtr !== undefined && (eventCount !== entry.eventCount || !entry.atr.equals(newAtr));
    if (entry.atr && (!newAtr || swapped)) this.events.emit({ type: 'card-removed', reader: name });
    if (newAtr && (!entry.atr || swapped)) this.events.emit({ type: 'card-inserted', reader: name, atr: hex(newAtr) });
    entry.flags = flags;
    entry.eventCount = eventCount;
    entry.atr = newAtr;
    this.emitReaders();
  }

  private info(entry: Entry): ReaderInfo {
    const name = entry.reader.name;
    const present = (entry.flags & entry.reader.SCARD_STATE_PRESENT) !== 0;
    if (!present) return { name, cardPresent: false, condition: 'empty' };
    const atr = entry.atr ? hex(entry.atr) : undefined;
    const base = { name, cardPresent: true, ...(atr ? { atr } : {}) };
    if (entry.hung) return { ...base, condition: 'not-responding' };
    if (entry.busy) return { ...base, condition: 'in-use' };
    if ((entry.flags & entry.reader.SCARD_STATE_MUTE) !== 0 || !entry.atr) return { ...base, condition: 'mute' };
    if (this.options.acceptAtr && !this.options.acceptAtr(entry.atr)) return { ...base, condition: 'unknown-card' };
    return { ...base, condition: 'ready' };
  }

  private readerInfos(): ReaderInfo[] {
    return [...this.entries.values()].map((e) => this.info(e)).sort((a, b) => a.name.localeCompare(b.name));
  }

  private emitReaders(): void {
    this.events.emitIfChanged({ type: 'readers', readers: this.readerInfos() });
  }

  private setState(state: ServiceState, detail?: string): void {
    if (state === this.state) return;
    this.state = state;
    this.events.emit({ type: 'service', state, ...(detail ? { detail } : {}) });
  }
}

function hex(bytes: Buffer): string {
  return bytes.toString('hex').toUpperCase();
}

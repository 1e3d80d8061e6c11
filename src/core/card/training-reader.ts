import type { CardSide } from './card-side';
import { AppError } from '../errors';
import { readerErrors } from './reader-errors';
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

export const TRAINING_READER_NAME = 'OTAC Training Reader';

export interface TrainingReaderOptions {
  readerName?: string;
  acceptAtr?: (atr: Buffer) => boolean;
}

/**
 * A reader inside the app for machines without pcscd (training, demos): it presents a
 * CardSide directly, with the same API, events and errors as the PC/SC service, so the
 * workflows above cannot tell the difference. One slot.
 */
export class TrainingReaderService implements CardReaderService {
  private readonly events = new ReaderEvents();
  private readonly name: string;
  private state: ServiceState = 'starting';
  private card: CardSide | undefined;
  /** Bumped on every insert/remove so a session notices its card went away. */
  private generation = 0;
  private busy = false;

  constructor(private readonly options: TrainingReaderOptions = {}) {
    this.name = options.readerName ?? TRAINING_READER_NAME;
  }

  start(): void {
    if (this.state === 'running') return;
    this.state = 'running';
    this.events.emit({ type: 'service', state: 'running' });
    this.emitReaders();
  }

  async stop(): Promise<void> {
    this.remove();
    this.state = 'stopped';
    this.events.emit({ type: 'service', state: 'stopped' });
    await Promise.resolve();
  }

  /** Put a card in the reader (replacing any card already there). */
  insert(card: CardSide): void {
    if (this.card) this.remove();
    this.card = card;
    this.generation += 1;
    card.powerOn();
    this.events.emit({ type: 'card-inserted', reader: this.name, atr: hex(card.atr()) });
    this.emitReaders();
  }

  remove(): void {
    if (!this.card) return;
    this.card.powerOff();
    this.card = undefined;
    this.generation += 1;
    this.events.emit({ type: 'card-removed', reader: this.name });
    this.emitReaders();
  }

  onEvent(listener: ReaderEventListener): () => void {
    return this.events.subscribe(listener);
  }

  snapshot(): ReaderSnapshot {
    return { state: this.state, readers: this.state === 'running' ? [this.info()] : [] };
  }

  async withCard<T>(
    readerName: string,
    fn: (transport: CardTransport, card: CardSessionInfo) => Promise<T>,
    options: WithCardOptions = {},
  ): Promise<T> {
    if (this.state !== 'running') throw readerErrors.none();
    if (readerName !== this.name) throw readerErrors.notFound(readerName);
    const info = this.info();
    if (this.busy) throw readerErrors.cardBusy(readerName);
    if (info.condition === 'empty' || !this.card) throw readerErrors.cardAbsent(readerName);
    if (info.condition === 'unknown-card') throw readerErrors.cardUnknown(readerName, info.atr ?? '');
    const card = this.card;
    const generation = this.generation;
    let open = true;
    const transport: CardTransport = {
      transmit: async (command: Buffer): Promise<Buffer> => {
        if (!open) {
          throw new AppError(
            'CARD_SESSION_CLOSED',
            'A card command was sent after its operation ended. This is a software fault; report it.',
          );
        }
        if (this.generation !== generation) throw readerErrors.cardRemoved(readerName);
        await Promise.resolve(); // Keep transmit asynchronous like a real reader.
        const response = card.process(command);
        if (response.length < 2) throw readerErrors.cardRemoved(readerName);
        return response;
      },
    };
    this.busy = true;
    this.emitReaders();
    let ok = false;
    try {
      const result = await fn(transport, { reader: readerName, atr: Buffer.from(card.atr()) });
      ok = true;
      return result;
    } finally {
      open = false;
      this.busy = false;
      if (this.generation === generation && (options.endWith === 'reset' || !ok)) card.reset();
      this.emitReaders();
    }
  }

  private info(): ReaderInfo {
    if (!this.card) return { name: this.name, cardPresent: false, condition: 'empty' };
    const atr = this.card.atr();
    const base = { name: this.name, cardPresent: true, atr: hex(atr) };
    if (this.busy) return { ...base, condition: 'in-use' };
    if (this.options.acceptAtr && !this.options.acceptAtr(atr)) return { ...base, condition: 'unknown-card' };
    return { ...base, condition: 'ready' };
  }

  private emitReaders(): void {
    this.events.emitIfChanged({ type: 'readers', readers: this.snapshot().readers });
  }
}

function hex(bytes: Buffer): string {
  return bytes.toString('hex').toUpperCase();
}

import type { ReaderSnapshot as UiSnapshot } from '../../shared/contract';
import { isAppError } from '../errors';
import type { Logger } from '../log';
import type { EventBus } from '../rpc/event-bus';
import type { CardState } from './protocol/card-responses';
import { OtacCard } from './protocol/card-session';
import type { CardReaderService, ReaderEvent, ReaderInfo, ServiceState } from './reader.types';

type CardView = NonNullable<UiSnapshot['readers'][number]['card']>;

const SETTLING = new Set(['CARD_ABSENT', 'CARD_REMOVED', 'CARD_MUTE', 'CARD_BUSY']);

const CONDITION_TEXT: Partial<Record<ReaderInfo['condition'], string>> = {
  'unknown-card': 'Not an OTAC card: take it out and insert a card from OTAC stock.',
  mute: 'The card does not answer: take it out and insert it again, chip first.',
  'not-responding': 'The card stopped answering: take it out and insert it again.',
};

/**
 * Keeps the UI's picture of readers and cards current: reader events from the service, plus
 * the public state of each OTAC card (read once per insertion, never a key or code), pushed
 * as `reader:changed`. Workflows use the same reader service; this only watches.
 */
export class ReaderMonitor {
  private readonly cards = new Map<string, { card?: CardView; error?: string }>();
  private readonly reading = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private detail: string | undefined;

  constructor(
    private readonly readers: CardReaderService,
    private readonly events: EventBus,
    private readonly log: Logger,
    private readonly kind: 'pcsc' | 'training',
  ) {}

  start(): void {
    this.unsubscribe = this.readers.onEvent((e) => this.onEvent(e));
    this.readers.start();
    this.publish();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.readers.stop();
  }

  snapshot(): UiSnapshot {
    const snap = this.readers.snapshot();
    return {
      service: this.kind === 'training' && snap.state === 'running' ? 'training' : serviceOf(snap.state),
      ...(this.detail ? { message: this.detail.slice(0, 300) } : {}),
      readers: snap.readers.map((r) => {
        const known = this.cards.get(r.name);
        const error = known?.error ?? CONDITION_TEXT[r.condition];
        return {
          name: r.name,
          cardPresent: r.cardPresent,
          ...(r.atr ? { atr: r.atr } : {}),
          ...(known?.card ? { card: known.card } : {}),
          ...(error ? { error } : {}),
        };
      }),
    };
  }

  /** Reads the card in `reader` again (after a workflow changed it, or on request). */
  async refresh(reader: string): Promise<void> {
    await this.readCard(reader);
  }

  private onEvent(e: ReaderEvent): void {
    if (e.type === 'service') this.detail = e.state === 'running' ? undefined : e.detail;
    if (e.type === 'card-removed') this.cards.delete(e.reader);
    if (e.type === 'card-inserted') void this.readCard(e.reader);
    if (e.type === 'readers') {
      for (const r of e.readers) {
        if (!r.cardPresent) this.cards.delete(r.name);
        else if (r.condition === 'ready' && !this.cards.has(r.name)) void this.readCard(r.name);
      }
    }
    this.publish();
  }

  private async readCard(reader: string): Promise<void> {
    if (this.reading.has(reader)) return;
    this.reading.add(reader);
    try {
      const state = await this.readSettled(reader);
      this.cards.set(reader, { card: view(state) });
    } catch (err) {
      // Card pulled or refused: the reader event that follows tells the rest.
      const message = isAppError(err) ? err.message : 'The card could not be read. Take it out and insert it again.';
      if (!isAppError(err))
        this.log.warn('card read failed', { reader, error: err instanceof Error ? err.name : 'unknown' });
      this.cards.set(reader, { error: message });
    } finally {
      this.reading.delete(reader);
      this.publish();
    }
  }

  /**
   * A card that has just gone in may not accept a connection for a few hundred milliseconds
   * (contacts settling, the reader powering it): retry while the reader still sees it.
   */
  private async readSettled(reader: string): Promise<CardState> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readers.withCard(
          reader,
          async (transport) => {
            const card = new OtacCard(transport);
            await card.select();
            return card.getState();
          },
          { timeoutMs: 3000 },
        );
      } catch (err) {
        const settling = isAppError(err) && SETTLING.has(err.code);
        const stillThere = this.readers.snapshot().readers.some((r) => r.name === reader && r.cardPresent);
        if (!settling || !stillThere || attempt >= 8) throw err;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
  }

  private publish(): void {
    this.events.emit('reader:changed', this.snapshot());
  }
}

function serviceOf(state: ServiceState): UiSnapshot['service'] {
  return state === 'stopped' ? 'unavailable' : state;
}

function view(s: CardState): CardView {
  return {
    cardId: s.cardId,
    lifeCycle: s.lifeCycle,
    ...(s.n ? { n: s.n } : {}),
    ...(s.list ? { codesRemaining: s.list.remaining, codesUsed: s.list.entries - s.list.remaining } : {}),
    lowCodes: s.lowCodes,
  };
}

import type { ReaderEvent, ReaderEventListener } from './reader.types';

/**
 * The small typed emitter behind onEvent(). A listener that throws is reported and skipped,
 * so one faulty subscriber (a closed window, say) cannot stop reader monitoring.
 */
export class ReaderEvents {
  private readonly listeners = new Set<ReaderEventListener>();
  private lastReaders = '';

  constructor(
    private readonly report: (err: unknown) => void = (err) => console.error('reader event listener failed:', err),
  ) {}

  subscribe(listener: ReaderEventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(event: ReaderEvent): void {
    if (event.type === 'readers') this.lastReaders = JSON.stringify(event.readers);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.report(err);
      }
    }
  }

  /** 'readers' events only when the list actually changed (pcscd reports every flag flip). */
  emitIfChanged(event: Extract<ReaderEvent, { type: 'readers' }>): void {
    if (JSON.stringify(event.readers) === this.lastReaders) return;
    this.emit(event);
  }
}

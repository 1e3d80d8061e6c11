import type { CardReaderService, ReaderEvent } from '../../src/core/card/reader.types';

/** Records a service's events with arrival times; waitFor resolves on the first match from `since`. */
export class EventRecorder {
  readonly events: Array<{ at: number; event: ReaderEvent }> = [];
  readonly unsubscribe: () => void;

  constructor(service: CardReaderService) {
    this.unsubscribe = service.onEvent((event) => this.events.push({ at: Date.now(), event }));
  }

  mark(): number {
    return this.events.length;
  }

  async waitFor(
    match: (event: ReaderEvent) => boolean,
    what: string,
    timeoutMs = 5000,
    since = 0,
  ): Promise<{ at: number; event: ReaderEvent }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(since).find((e) => match(e.event));
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `no ${what} within ${timeoutMs} ms; saw ${JSON.stringify(this.events.slice(since).map((e) => e.event))}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

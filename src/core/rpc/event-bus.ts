import type { EventName, EventPayload } from '../../shared/contract';

export type EventListener = <E extends EventName>(name: E, payload: EventPayload<E>) => void;

/** Events from services to every connected window, whatever the transport. */
export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private readonly latest = new Map<EventName, unknown>();

  emit<E extends EventName>(name: E, payload: EventPayload<E>): void {
    this.latest.set(name, payload);
    for (const l of this.listeners) l(name, payload);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The latest value of each event, so a newly connected window starts current. */
  snapshot(): [EventName, unknown][] {
    return [...this.latest];
  }
}

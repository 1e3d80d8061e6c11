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

  /** Subscribes and replays the latest value of each event, so a new window starts current. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    for (const [name, payload] of this.latest) listener(name, payload as EventPayload<typeof name>);
    return () => this.listeners.delete(listener);
  }
}

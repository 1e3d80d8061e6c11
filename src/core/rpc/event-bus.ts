import type { EventName, EventPayload } from '../../shared/contract';

/** `to` names the one client an event is for (its own session ended); null for every client. */
export type EventListener = <E extends EventName>(name: E, payload: EventPayload<E>, to: string | null) => void;

/**
 * Events from services, whatever the transport. The bus does not decide who may see what:
 * each transport delivers through an EventFeed (event-feed.ts), which does.
 */
export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private readonly latest = new Map<EventName, unknown>();

  emit<E extends EventName>(name: E, payload: EventPayload<E>): void {
    this.latest.set(name, payload);
    for (const l of this.listeners) l(name, payload, null);
  }

  /** An event for one client only; not kept for the snapshot. */
  emitTo<E extends EventName>(clientId: string, name: E, payload: EventPayload<E>): void {
    for (const l of this.listeners) l(name, payload, clientId);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The latest value of each broadcast event, so a newly connected window starts current. */
  snapshot(): [EventName, unknown][] {
    return [...this.latest];
  }
}

import { contract, type Access, type ChannelName, type EventName } from '../../shared/contract';
import type { Role } from '../../shared/roles';
import type { Session } from '../auth/session.store';
import type { EventBus } from './event-bus';

// Who receives which event. A client with no live session receives nothing but the events
// addressed to it; a signed-in client receives an event only when its role may call the channel
// that reads the same data, so the stream never shows more than the contract would answer.

/** The channel whose access rule decides who sees each broadcast event. */
const EVENT_READ_CHANNEL: Partial<Record<EventName, ChannelName>> = {
  'reader:changed': 'reader:status',
};

/**
 * `data:changed` names query domains; each is shown to the roles that may read that domain.
 * A domain missing here is sent to nobody: add it with the channel that reads it.
 */
export const DATA_DOMAIN_READ_CHANNEL: Readonly<Record<string, ChannelName>> = {
  operators: 'admin:listOperators',
  policy: 'policy:get',
  keys: 'keys:status',
  audit: 'audit:query',
  customers: 'customers:search',
  mailers: 'mailer:queue',
};

function allows(access: Access, role: Role): boolean {
  return access === 'signed-in' || (access !== 'public' && access.includes(role));
}

const mayCall = (role: Role, channel: ChannelName | undefined): boolean =>
  !!channel && allows(contract[channel].access, role);

/** What of a broadcast event this role may see: the payload, a narrowed payload, or null. */
export function visibleTo(role: Role, name: EventName, payload: unknown): unknown {
  if (name === 'data:changed') {
    const { domains } = payload as { domains: string[] };
    const seen = domains.filter(
      (d) => Object.hasOwn(DATA_DOMAIN_READ_CHANNEL, d) && mayCall(role, DATA_DOMAIN_READ_CHANNEL[d]),
    );
    return seen.length > 0 ? { domains: seen } : null;
  }
  return mayCall(role, EVENT_READ_CHANNEL[name]) ? payload : null;
}

export interface ClientEvents {
  /** Call after each of the client's calls: on a new sign-in (or role) it sends what is current. */
  afterCall(): void;
  close(): void;
}

/** One client's view of the bus, for the Electron window and the loopback stream alike. */
export class EventFeed {
  constructor(
    private readonly bus: EventBus,
    private readonly sessionOf: (clientId: string) => Session | null,
  ) {}

  open(clientId: string, deliver: (name: EventName, payload: unknown) => void): ClientEvents {
    let seenAs: string | null = null;
    const sendSnapshot = (session: Session | null) => {
      seenAs = session ? `${session.operatorId}:${session.role}` : null;
      if (!session) return;
      for (const [name, payload] of this.bus.snapshot()) {
        const visible = visibleTo(session.role, name, payload);
        if (visible !== null) deliver(name, visible);
      }
    };
    const unsubscribe = this.bus.subscribe((name, payload, to) => {
      if (to !== null) {
        if (to === clientId) deliver(name, payload);
        return;
      }
      const session = this.sessionOf(clientId);
      if (!session) return;
      const visible = visibleTo(session.role, name, payload);
      if (visible !== null) deliver(name, visible);
    });
    sendSnapshot(this.sessionOf(clientId));
    return {
      afterCall: () => {
        const session = this.sessionOf(clientId);
        const as = session ? `${session.operatorId}:${session.role}` : null;
        if (as !== seenAs) sendSnapshot(session);
      },
      close: unsubscribe,
    };
  }
}

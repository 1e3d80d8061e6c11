import type { Result } from '../../shared/contract';

/** What the preload exposes as `window.otac`, and what the loopback transport imitates. */
export interface OtacBridge {
  call(channel: string, payload: unknown): Promise<Result<unknown>>;
  onEvent(listener: (name: string, payload: unknown) => void): () => void;
}

declare global {
  interface Window {
    otac?: OtacBridge;
  }
}

/** Browser mode: the same contract over the loopback host (cookie-authenticated, same origin). */
function loopbackBridge(): OtacBridge {
  const latest = new Map<string, unknown>();
  const listeners = new Set<(name: string, payload: unknown) => void>();
  let started = false;

  async function stream(): Promise<void> {
    for (let delay = 250; ; delay = Math.min(delay * 2, 4000)) {
      try {
        const res = await fetch('/events', { method: 'POST', credentials: 'same-origin' });
        if (!res.ok || !res.body) throw new Error(`events ${res.status}`);
        delay = 250;
        emit('transport:connected', {});
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (line) {
              const msg = JSON.parse(line) as { name: string; payload: unknown };
              emit(msg.name, msg.payload);
            }
          }
        }
      } catch {
        // fall through to reconnect
      }
      emit('transport:lost', {});
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  function emit(name: string, payload: unknown): void {
    latest.set(name, payload);
    for (const l of listeners) l(name, payload);
  }

  return {
    async call(channel, payload) {
      try {
        const res = await fetch('/rpc', {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ channel, payload }),
        });
        return (await res.json()) as Result<unknown>;
      } catch {
        return {
          ok: false,
          error: {
            code: 'NOT_CONNECTED',
            message: 'The workstation service is not reachable. Check that it is running, then retry.',
          },
        };
      }
    },
    onEvent(listener) {
      listeners.add(listener);
      for (const [name, payload] of latest) listener(name, payload);
      if (!started) {
        started = true;
        void stream();
      }
      return () => listeners.delete(listener);
    },
  };
}

/** Replays each event's latest value to late subscribers, so a page mounted later starts current. */
function replaying(inner: OtacBridge): OtacBridge {
  const latest = new Map<string, unknown>();
  inner.onEvent((name, payload) => latest.set(name, payload));
  return {
    call: (c, p) => inner.call(c, p),
    onEvent(listener) {
      for (const [name, payload] of latest) listener(name, payload);
      return inner.onEvent(listener);
    },
  };
}

export const bridge: OtacBridge = window.otac ? replaying(window.otac) : loopbackBridge();
export const shellKind: 'electron' | 'browser' = window.otac ? 'electron' : 'browser';

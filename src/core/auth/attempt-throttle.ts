export interface ThrottleOptions {
  /** Attempts under one key that pass at once, before any waiting starts. */
  readonly freeAttempts: number;
  /** The wait after the last free attempt; it doubles with each further attempt, up to maxDelayMs. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A key with no attempt for this long starts afresh. */
  readonly forgetAfterMs: number;
  readonly now?: () => number;
}

/** keys:unlock: one passphrase per desk, so one key; five tries at once, then waits doubling from 2 s to 10 min. */
export const KEYSTORE_UNLOCK_THROTTLE: ThrottleOptions = {
  freeAttempts: 5,
  baseDelayMs: 2_000,
  maxDelayMs: 10 * 60_000,
  forgetAfterMs: 60 * 60_000,
};

export type ThrottleAnswer = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

interface Entry {
  attempts: number;
  lastAt: number;
  blockedUntil: number;
}

// Past this many keys, entries nobody used within forgetAfterMs are dropped, so a stream of made-up
// user names cannot grow the map without bound.
const PRUNE_ABOVE = 10_000;

/**
 * Slows guessing of a secret (a password, the keystore passphrase) in memory, per key (a user name,
 * a client). Attempts are counted when they start, not when they fail, so a burst of concurrent
 * attempts is cut off after `freeAttempts` just like a sequence; a success clears the keys. It sits
 * in front of the lockout in the database, which stays the authority: the throttle only limits how
 * fast anyone reaches it, and forgets everything on restart.
 */
export class AttemptThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly opts: ThrottleOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Counts one attempt under every key, or refuses it (counting nothing) while any key must wait. */
  admit(keys: readonly string[]): ThrottleAnswer {
    const now = this.now();
    const entries = keys.map((key) => this.entry(key, now));
    const wait = Math.max(0, ...entries.map((e) => e.blockedUntil - now));
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    for (const e of entries) {
      e.attempts += 1;
      e.lastAt = now;
      const over = e.attempts - this.opts.freeAttempts;
      if (over >= 0)
        e.blockedUntil = now + Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(over, 30));
    }
    return { ok: true };
  }

  /** The secret was right: these keys start afresh. */
  succeeded(keys: readonly string[]): void {
    for (const key of keys) this.entries.delete(key);
  }

  private entry(key: string, now: number): Entry {
    let e = this.entries.get(key);
    if (e && now - e.lastAt > this.opts.forgetAfterMs && e.blockedUntil <= now) e = undefined;
    if (!e) {
      if (this.entries.size >= PRUNE_ABOVE) this.prune(now);
      e = { attempts: 0, lastAt: now, blockedUntil: 0 };
      this.entries.set(key, e);
    }
    return e;
  }

  private prune(now: number): void {
    for (const [key, e] of this.entries) {
      if (now - e.lastAt > this.opts.forgetAfterMs && e.blockedUntil <= now) this.entries.delete(key);
    }
  }
}

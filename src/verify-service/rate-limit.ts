// The per-N rate limit: a token bucket per card number, in this process's memory. It bounds how fast
// anyone can try codes for one card (the failure lockout bounds how many wrong ones in a row), so it
// is checked before `verify` runs and a refused request marks and counts nothing. Memory stays
// bounded: buckets that have refilled completely carry no information and are dropped.

export interface RateLimit {
  /** Requests allowed at once for one N. */
  readonly burst: number;
  /** Requests per second a bucket regains. */
  readonly perSecond: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 10, perSecond: 0.5 };

const PRUNE_AT = 100_000;

export class PerKeyRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token for `key`: 0 when allowed, else the seconds until one is back. */
  take(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.limit.burst, at: t };
    const tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.perSecond);
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: t });
      return Math.ceil((1 - tokens) / this.limit.perSecond);
    }
    this.buckets.set(key, { tokens: tokens - 1, at: t });
    if (this.buckets.size > PRUNE_AT) this.prune(t);
    return 0;
  }

  private prune(t: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(key);
    }
  }
}

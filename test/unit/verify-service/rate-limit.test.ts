import { describe, expect, it } from 'vitest';
import { PerKeyRateLimiter } from '../../../src/verify-service/rate-limit';

// The per-N token bucket: a burst, then one request per 1/perSecond seconds, per key; keys apart.

describe('per-N rate limit', () => {
  it('allows a burst, then refuses with the wait, and refills over time, per key', () => {
    let now = 0;
    const limiter = new PerKeyRateLimiter({ burst: 3, perSecond: 0.5 }, () => now);
    expect([limiter.take('A'), limiter.take('A'), limiter.take('A')]).toEqual([0, 0, 0]);
    expect(limiter.take('A')).toBe(2); // one token back in 2 s
    expect(limiter.take('B')).toBe(0); // another card is not held up
    now += 2000;
    expect(limiter.take('A')).toBe(0);
    expect(limiter.take('A')).toBeGreaterThan(0);
    now += 60_000;
    expect([limiter.take('A'), limiter.take('A'), limiter.take('A'), limiter.take('A') > 0]).toEqual([0, 0, 0, true]);
  });
});

import { describe, expect, it } from 'vitest';
import { AttemptThrottle } from '../../../src/core/auth/attempt-throttle';

describe('AttemptThrottle', () => {
  const make = () => {
    const clock = { now: 1_000_000 };
    const throttle = new AttemptThrottle({
      freeAttempts: 3,
      baseDelayMs: 1_000,
      maxDelayMs: 8_000,
      forgetAfterMs: 60_000,
      now: () => clock.now,
    });
    return { clock, throttle };
  };

  it('lets the free attempts through at once, then refuses until the wait is over', () => {
    const { clock, throttle } = make();
    expect([1, 2, 3].map(() => throttle.admit(['user:a']).ok)).toEqual([true, true, true]);
    expect(throttle.admit(['user:a'])).toEqual({ ok: false, retryAfterMs: 1_000 });
    clock.now += 999;
    expect(throttle.admit(['user:a']).ok).toBe(false);
    clock.now += 1;
    expect(throttle.admit(['user:a']).ok).toBe(true);
  });

  it('doubles the wait with each further attempt, up to the maximum', () => {
    const { clock, throttle } = make();
    for (let i = 0; i < 3; i++) throttle.admit(['k']);
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const refused = throttle.admit(['k']);
      if (refused.ok) throw new Error('expected a refusal');
      waits.push(refused.retryAfterMs);
      clock.now += refused.retryAfterMs;
      expect(throttle.admit(['k']).ok).toBe(true);
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it('counts an attempt when it starts, so a concurrent burst is cut off like a sequence', () => {
    const { throttle } = make();
    const answers = Array.from({ length: 50 }, () => throttle.admit(['user:a', 'client:1']).ok);
    expect(answers.filter(Boolean)).toHaveLength(3);
  });

  it('refuses when any one key must wait, and then counts none of them', () => {
    const { throttle } = make();
    for (let i = 0; i < 3; i++) throttle.admit(['client:1', `user:${i}`]);
    // A fourth user name from the same client is refused by the client key alone...
    expect(throttle.admit(['client:1', 'user:fresh']).ok).toBe(false);
    // ...and that refusal did not spend an attempt of the fresh user name elsewhere.
    for (let i = 0; i < 3; i++) expect(throttle.admit(['client:2', 'user:fresh']).ok).toBe(true);
  });

  it('a success clears its keys; an idle key is forgotten', () => {
    const { clock, throttle } = make();
    for (let i = 0; i < 3; i++) throttle.admit(['a']);
    throttle.succeeded(['a']);
    expect(throttle.admit(['a']).ok).toBe(true);
    for (let i = 0; i < 3; i++) throttle.admit(['b']);
    clock.now += 60_001;
    expect(throttle.admit(['b']).ok).toBe(true);
  });
});

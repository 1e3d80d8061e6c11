import { describe, expect, it } from 'vitest';
import { defaultRange, paramsFromView, viewFromParams } from '../../../src/renderer/features/usage/usage-params';
import { usageFilterSchema } from '../../../src/shared/contract/usage.contract';

// The usage page's address: what a reload reads back is what was written, and a hand-edited or
// stale address never makes a request main would refuse.

describe('usage page address', () => {
  it('round-trips every filter, the grouping and the sort', () => {
    const view = {
      filter: {
        from: '2026-11-01',
        to: '2026-11-30',
        branch: 'Bern',
        q: 'Ada Lovelace',
        reason: 'wrong_code' as const,
      },
      by: 'customer' as const,
      sort: 'usesInRange' as const,
      desc: true,
    };
    const p = paramsFromView(view);
    expect(p.toString()).toBe(
      'from=2026-11-01&to=2026-11-30&branch=Bern&q=Ada+Lovelace&reason=wrong_code&by=customer&sort=usesInRange&desc=1',
    );
    expect(viewFromParams(new URLSearchParams(p.toString()))).toEqual(view);
  });

  it('falls back to defaults for anything malformed, and always yields a filter main accepts', () => {
    const v = viewFromParams(
      new URLSearchParams('from=yesterday&to=2026-11-30&reason=because&by=n&sort=drop&desc=yes&q=' + 'x'.repeat(500)),
    );
    expect(v.filter.from).toBe(defaultRange().from > '2026-11-30' ? '2026-11-30' : defaultRange().from);
    expect(v.filter.reason).toBeUndefined();
    expect(v).toMatchObject({ by: 'card', sort: 'key', desc: false });
    expect(v.filter.q).toHaveLength(80);
    expect(usageFilterSchema.safeParse(v.filter).success).toBe(true);
    expect(viewFromParams(new URLSearchParams('from=2026-02-30&to=2026-03-01')).filter.from).not.toBe('2026-02-30');
    const reversed = viewFromParams(new URLSearchParams('from=2026-12-01&to=2026-11-01'));
    expect(reversed.filter).toEqual({ from: '2026-11-01', to: '2026-11-01' });
    expect(usageFilterSchema.safeParse(reversed.filter).success).toBe(true);
  });

  it('defaults to the last 30 UTC days, today included', () => {
    expect(defaultRange(new Date('2026-12-03T10:00:00Z'))).toEqual({ from: '2026-11-04', to: '2026-12-03' });
  });
});

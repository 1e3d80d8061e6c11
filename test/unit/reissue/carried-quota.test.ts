import { describe, expect, it } from 'vitest';
import type { ListRecord } from '../../../src/core/lists/list.repository';
import { carriedQuota } from '../../../src/core/reissue/reissue.service';

// The quota a reissue carries over (docs/reissue.md "The carried quota"): the old table's codes still
// ahead of its next index — used and skipped codes are gone — within a card's list maximum.

const list = (length: number, nextIndex: number) => ({ length, nextIndex }) as ListRecord;

describe('the carried quota', () => {
  it('is the codes ahead of the next index: used and skipped codes are not carried', () => {
    expect(carriedQuota(list(100, 1))).toBe(100);
    expect(carriedQuota(list(100, 4))).toBe(97); // three used
    expect(carriedQuota(list(100, 51))).toBe(50); // used or skipped, the same
    expect(carriedQuota(list(100, 100))).toBe(1);
  });

  it('is 0 for an exhausted table or none (the new card then gets an ordinary first list)', () => {
    expect(carriedQuota(list(100, 101))).toBe(0);
    expect(carriedQuota(null)).toBe(0);
  });

  it('never exceeds the largest list a card holds (1000)', () => {
    expect(carriedQuota(list(5000, 1))).toBe(1000);
  });
});

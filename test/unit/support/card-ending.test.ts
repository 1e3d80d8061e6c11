import { describe, expect, it } from 'vitest';
import { cardEnding } from '../../../src/core/support/support-view';

describe('cardEnding: the card as a message to the customer names it', () => {
  it('shows the last four characters of a long N and nothing of a short one', () => {
    expect(cardEnding('NB-2026-000123')).toBe(' ending 0123');
    expect(cardEnding('1234567')).toBe(' ending 4567');
    expect(cardEnding('123456')).toBe('');
    expect(cardEnding('N-1')).toBe('');
  });
});

import { describe, expect, it } from 'vitest';
import { hotp } from '../../../src/core/crypto/hotp';

// RFC 4226 appendix D: secret "12345678901234567890", counters 0..9, 6 digits.
const SECRET = Buffer.from('12345678901234567890', 'ascii');
const RFC4226 = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
// The truncated 31-bit values of the same appendix, for the 10-digit form.
const TRUNCATED = [
  1284755224, 1094287082, 137359152, 1726969429, 1640338314, 868254676, 1918287922, 82162583, 673399871, 645520489,
];

describe('HOTP (RFC 4226)', () => {
  it('matches the appendix D test values for counters 0..9', () => {
    expect(RFC4226.map((_, i) => hotp(SECRET, i))).toEqual(RFC4226);
  });
  it('10 digits print the whole truncated value, zero-padded', () => {
    expect(TRUNCATED.map((_, i) => hotp(SECRET, i, 10))).toEqual(TRUNCATED.map((v) => String(v).padStart(10, '0')));
  });
  it('8 digits are the last 8 of the truncated value', () => {
    expect(hotp(SECRET, 7, 8)).toBe('82162583');
  });
  it('refuses digits outside 6..10 and negative counters', () => {
    expect(() => hotp(SECRET, 0, 5)).toThrow(RangeError);
    expect(() => hotp(SECRET, 0, 11)).toThrow(RangeError);
    expect(() => hotp(SECRET, -1)).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import {
  MAILER_ALPHABET,
  formatMailerKey,
  luhnMod32,
  parseMailerKey,
} from '../../../src/core/crypto/mailer-key-format';

const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

describe('K/N mailer key format', () => {
  it('prints 7 groups of 4 characters plus a check character', () => {
    const text = formatMailerKey(key);
    expect(text).toMatch(/^([0-9A-HJKMNP-TV-Z]{5}-){6}[0-9A-HJKMNP-TV-Z]{5}$/);
    // The first 20 bits 00000000 00000001 0000 are the 5-bit values 0, 0, 0, 16 → "000G".
    expect(text.slice(0, 4)).toBe('000G');
  });
  it('round-trips, ignoring case, spaces and confusable letters', () => {
    const text = formatMailerKey(key);
    const typed = text.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
    const parsed = parseMailerKey(typed);
    expect(parsed.ok && parsed.key.equals(key)).toBe(true);
  });
  it('pins a single typo to its group', () => {
    const text = formatMailerKey(key);
    const i = 6 * 2 + 1; // group 3, second character
    const wrong = MAILER_ALPHABET[(MAILER_ALPHABET.indexOf(text[i] ?? '0') + 1) % 32] ?? '0';
    const typed = text.slice(0, i) + wrong + text.slice(i + 1);
    expect(parseMailerKey(typed)).toEqual({ ok: false, reason: 'group', badGroups: [3] });
  });
  it('detects two swapped groups', () => {
    const groups = formatMailerKey(key).split('-');
    const swapped = [groups[1], groups[0], ...groups.slice(2)].join('-');
    const parsed = parseMailerKey(swapped);
    expect(parsed.ok).toBe(false);
  });
  it('rejects a wrong length or a character outside the alphabet', () => {
    expect(parseMailerKey('ABCD')).toEqual({ ok: false, reason: 'length', badGroups: [] });
    const text = formatMailerKey(key);
    expect(parseMailerKey('U' + text.slice(1))).toEqual({ ok: false, reason: 'character', badGroups: [1] });
  });
  it('Luhn mod 32 detects every single substitution in a group', () => {
    const body = [3, 17, 29, 8];
    const check = luhnMod32(2, body);
    for (let pos = 0; pos < 4; pos++)
      for (let v = 0; v < 32; v++) {
        if (v === body[pos]) continue;
        const changed = body.map((x, j) => (j === pos ? v : x));
        expect(luhnMod32(2, changed)).not.toBe(check);
      }
  });
});

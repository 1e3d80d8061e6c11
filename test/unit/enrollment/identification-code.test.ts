import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkCharacter,
  formatN,
  generateN,
  isValidN,
  N_ALPHABET,
  N_LENGTH,
  normaliseN,
} from '../../../src/core/enrollment/identification-code';
import { assertCardN } from '../../../src/core/keystore/card-key-derivation';

// docs/enrollment.md: N = 12 random symbols of a 31-symbol alphabet + a mod-31 check character.

/** A fixed sample of valid codes (random, but many): the error-detection claims are checked on each. */
const SAMPLE = Array.from({ length: 120 }, () => generateN());

describe('identification code N', () => {
  it('has the documented shape and passes the keystore and card-profile rules', () => {
    expect(N_ALPHABET).toHaveLength(31);
    expect(new Set(N_ALPHABET).size).toBe(31);
    expect(N_ALPHABET).not.toMatch(/[ILOUZ]/);
    for (const n of SAMPLE) {
      expect(n).toHaveLength(N_LENGTH);
      expect(isValidN(n)).toBe(true);
      expect(() => assertCardN(n)).not.toThrow(); // keystore: [0-9A-Za-z-]{1,64}
      expect(n).toMatch(/^[\x21-\x7e]{6,24}$/); // card profile 9.1
    }
  });

  it('catches every single-character substitution, at every position, with every other symbol', () => {
    let tried = 0;
    for (const n of SAMPLE) {
      for (let i = 0; i < n.length; i++) {
        for (const c of N_ALPHABET) {
          if (c === n[i]) continue;
          const wrong = n.slice(0, i) + c + n.slice(i + 1);
          expect(isValidN(wrong), `${n} → ${wrong}`).toBe(false);
          tried++;
        }
      }
    }
    expect(tried).toBe(SAMPLE.length * N_LENGTH * 30);
  });

  it('catches every transposition of two different characters, adjacent or not (check character included)', () => {
    let tried = 0;
    for (const n of SAMPLE) {
      for (let i = 0; i < n.length; i++) {
        for (let j = i + 1; j < n.length; j++) {
          if (n[i] === n[j]) continue; // swapping equal symbols is no error
          const chars = [...n];
          [chars[i], chars[j]] = [chars[j]!, chars[i]!];
          expect(isValidN(chars.join('')), `${n} swap ${i},${j}`).toBe(false);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(SAMPLE.length * 60);
  });

  it('computes the check character from the documented weights (a hand-worked example)', () => {
    // data 000000000001: only the last data position (weight 2) carries value 1 → sum 2 → check = 31 − 2 = 29 → 'X'.
    expect(checkCharacter('000000000001')).toBe('X');
    // data 100000000000: weight 13 → check = 31 − 13 = 18 → 'J'.
    expect(checkCharacter('100000000000')).toBe('J');
    expect(checkCharacter('000000000000')).toBe('0');
    expect(isValidN('000000000001X')).toBe(true);
    expect(isValidN('000000000001Y')).toBe(false);
  });

  it('refuses wrong lengths and symbols outside the alphabet', () => {
    const n = SAMPLE[0]!;
    expect(isValidN(n.slice(1))).toBe(false);
    expect(isValidN(n + '0')).toBe(false);
    expect(isValidN(n.slice(0, 12) + 'Z')).toBe(false);
    expect(isValidN(n.toLowerCase() === n ? 'a' + n.slice(1) : n.toLowerCase())).toBe(false);
    expect(() => checkCharacter('OOOOOOOOOOOO')).toThrow(RangeError);
  });

  it('reads what a person types: case, groups, O/I/L for 0/1', () => {
    const n = SAMPLE[1]!;
    expect(normaliseN(formatN(n).toLowerCase())).toBe(n);
    expect(normaliseN(' 0IL1-0000 ')).toBe('01110000');
    expect(formatN('0123456789ABC')).toBe('0123-4567-89AB-C');
  });

  it('draws every symbol about equally often (no modulo bias) from the random source it is given', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) for (const c of generateN().slice(0, 12)) counts.set(c, (counts.get(c) ?? 0) + 1);
    const expected = (4000 * 12) / 31;
    for (const c of N_ALPHABET) expect(Math.abs((counts.get(c) ?? 0) - expected)).toBeLessThan(expected * 0.15);
    // Bytes ≥ 248 are never used: a source giving only those and then zeros yields all-zero data.
    let calls = 0;
    const n = generateN((size) => (calls++ === 0 ? Buffer.alloc(size, 0xff) : Buffer.alloc(size, 0)));
    expect(n).toBe('000000000000' + checkCharacter('000000000000'));
    expect(generateN(randomBytes)).not.toBe(generateN(randomBytes));
  });
});

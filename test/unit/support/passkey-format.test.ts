import { describe, expect, it } from 'vitest';
import {
  generatePasskey,
  groupPasskey,
  isPasskeyShaped,
  normalisePasskey,
  passkeyCandidates,
  passkeyCharacters,
} from '../../../src/core/support/passkey-format';
import { PASSKEY_ALPHABETS } from '../../../src/shared/contract/policy.contract';

describe('the passkey format (source 004 claim 9)', () => {
  it.each(PASSKEY_ALPHABETS)(
    'draws %s passkeys of the policy length from that alphabet only, all characters used',
    (a) => {
      const chars = passkeyCharacters(a);
      const seen = new Set<string>();
      for (let i = 0; i < 400; i++) {
        const p = generatePasskey(a, 8);
        expect(p).toHaveLength(8);
        expect(isPasskeyShaped(p, a, 8)).toBe(true);
        for (const c of p) seen.add(c);
      }
      expect([...seen].sort().join('')).toBe([...chars].sort().join(''));
    },
  );

  it('gives no two equal passkeys in 10,000 (40 bits each)', () => {
    const all = new Set(Array.from({ length: 10_000 }, () => generatePasskey('base32-crockford', 8)));
    expect(all.size).toBe(10_000);
  });

  it("reads back what a person types: case, spaces and dashes ignored; Crockford's O, I and L", () => {
    expect(normalisePasskey(' 7k3m-q9xd ', 'base32-crockford')).toBe('7K3MQ9XD');
    expect(normalisePasskey('O1IL', 'base32-crockford')).toBe('0111');
    expect(normalisePasskey('O1IL', 'digits')).toBe('O1IL');
    expect(isPasskeyShaped('O1IL', 'digits', 4)).toBe(false);
    expect(isPasskeyShaped('1234567', 'digits', 8)).toBe(false);
  });

  it('groups in fours for reading aloud', () => {
    expect(groupPasskey('7K3MQ9XD')).toBe('7K3M-Q9XD');
    expect(groupPasskey('1234567890')).toBe('1234-5678-90');
  });

  it("finds the one passkey in a customer's e-mail, grouped or not, and leaves quoted lines out", () => {
    expect(passkeyCandidates('Hello,\n\n7K3M-Q9XD\n\nRegards, Ada', 'base32-crockford', 8)).toEqual(['7K3MQ9XD']);
    expect(passkeyCandidates('my passkey: 7k3m q9xd', 'base32-crockford', 8)).toEqual(['7K3MQ9XD']);
    expect(passkeyCandidates('> 7K3M-Q9XD\nthanks', 'base32-crockford', 8)).toEqual([]);
    expect(passkeyCandidates('12345678 and 87654321', 'digits', 8)).toHaveLength(2);
    // ordinary words are no passkey, even where every letter is in the alphabet
    expect(passkeyCandidates('Hello, here it is: here this\n\n7K3M-Q9XD.\nAda', 'base32-crockford', 8)).toEqual([
      '7K3MQ9XD',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { buildCodeListBody, listSecretKdfInput } from '../../../src/core/card/protocol/list-codes';
import { decodeListBody, encodeListBody } from '../../../src/core/card/protocol/list-format';
import { kdfCounterCmac } from '../../../src/core/crypto/sp800-108';

// RFC 4226 appendix D: secret "12345678901234567890", HOTP values for counters 0..9 (6 digits).
const RFC_SECRET = Buffer.from('12345678901234567890', 'ascii');
const RFC_CODES = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
// The same vectors' truncated 31-bit values (appendix D, "Decimal"), which 10 digits print whole.
const RFC_DECIMAL = [
  1284755224, 1094287082, 137359152, 1726969429, 1640338314, 868254676, 1918287922, 82162583, 673399871, 645520489,
];

const spec = (length: number, digits: number) => ({
  cardId: Buffer.from('0102030405060708', 'hex'),
  listSeq: 3,
  listId: Buffer.alloc(16, 0xab),
  length,
  digits,
  expiry: 1_900_000_000,
  threshold: 2,
});

describe('code list body: code i = HOTP(list secret, i)', () => {
  it('gives RFC 4226 appendix D codes at indexes 1..9 (6 digits)', () => {
    const body = buildCodeListBody(RFC_SECRET, spec(9, 6));
    expect(body.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(body.entries.map((e) => e.code)).toEqual(RFC_CODES.slice(1));
    // and survives the card's fixed layout
    expect(decodeListBody(encodeListBody(body)).entries.map((e) => e.code)).toEqual(RFC_CODES.slice(1));
  });

  it('zero-pads 10-digit codes and truncates 8-digit ones as RFC 4226 does', () => {
    const ten = buildCodeListBody(RFC_SECRET, spec(9, 10)).entries.map((e) => e.code);
    expect(ten).toEqual(RFC_DECIMAL.slice(1).map((d) => String(d).padStart(10, '0')));
    expect(ten[6]).toBe('0082162583');
    const eight = buildCodeListBody(RFC_SECRET, spec(9, 8)).entries.map((e) => e.code);
    expect(eight).toEqual(RFC_DECIMAL.slice(1).map((d) => String(d % 1e8).padStart(8, '0')));
  });

  it('refuses digits outside 6..10 and lengths outside 1..1000', () => {
    for (const [length, digits] of [
      [5, 5],
      [5, 11],
      [0, 6],
      [1001, 6],
    ] as const)
      expect(() => buildCodeListBody(RFC_SECRET, spec(length, digits))).toThrow(/invalid/);
  });

  it('derives a 160-bit secret that changes with the list id, card, seq and sealing key', () => {
    const mk = Buffer.alloc(32, 0x11);
    const s = spec(5, 6);
    const base = kdfCounterCmac(mk, listSecretKdfInput(s, 'card:N-1'));
    expect(base).toHaveLength(20);
    const variants = [
      listSecretKdfInput({ ...s, listId: Buffer.alloc(16, 0xac) }, 'card:N-1'),
      listSecretKdfInput({ ...s, cardId: Buffer.alloc(8, 1) }, 'card:N-1'),
      listSecretKdfInput({ ...s, listSeq: 4 }, 'card:N-1'),
      listSecretKdfInput(s, 'card:N-2'),
      listSecretKdfInput(s, 'rsa:00'),
    ].map((i) => kdfCounterCmac(mk, i).toString('hex'));
    expect(new Set([base.toString('hex'), ...variants]).size).toBe(6);
  });
});

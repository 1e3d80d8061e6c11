import { describe, expect, it } from 'vitest';
import { decodeTlvs, encodeTlv, encodeTlvs, requireTlv } from '../../../src/core/card/tlv.codec';
import { describeStatusWord, triesLeft } from '../../../src/core/card/status-words';
import { CardError } from '../../../src/core/card/card-error';

describe('BER-TLV', () => {
  it('encodes 1-, 2- and 3-byte tags and the length forms byte for byte', () => {
    expect(encodeTlv(0xc1, Buffer.from('0102', 'hex')).toString('hex')).toBe('c1020102');
    expect(encodeTlv(0x9f27, Buffer.from('80', 'hex')).toString('hex')).toBe('9f270180');
    expect(encodeTlv(0xdf8101, Buffer.alloc(0)).toString('hex')).toBe('df810100');
    expect(encodeTlv(0xc1, Buffer.alloc(127)).subarray(0, 2).toString('hex')).toBe('c17f');
    expect(encodeTlv(0xc1, Buffer.alloc(128)).subarray(0, 3).toString('hex')).toBe('c18180');
    expect(encodeTlv(0xc1, Buffer.alloc(256)).subarray(0, 4).toString('hex')).toBe('c1820100');
    expect(encodeTlv(0xc1, Buffer.alloc(65536)).subarray(0, 5).toString('hex')).toBe('c183010000');
  });

  it('decodes nested TLVs and marks constructed ones', () => {
    const inner = encodeTlvs([
      [0x84, Buffer.from('f0', 'hex')],
      [0x9f27, Buffer.from('01', 'hex')],
    ]);
    const outer = decodeTlvs(encodeTlv(0x6f, inner));
    expect(outer).toHaveLength(1);
    expect(outer[0]?.constructed).toBe(true);
    const items = decodeTlvs(outer[0]?.value ?? Buffer.alloc(0));
    expect(items.map((t) => [t.tag, t.value.toString('hex'), t.constructed])).toEqual([
      [0x84, 'f0', false],
      [0x9f27, '01', false],
    ]);
    expect(decodeTlvs(Buffer.from('c1820100' + '00'.repeat(256), 'hex'))[0]?.value.length).toBe(256);
  });

  it.each([
    ['truncated value', 'c103aabb'],
    ['indefinite length', 'c180'],
    ['length field too long', 'c18401000000'],
    ['tag truncated', '9f'],
    ['tag too long', '9f818181'],
    ['missing length', 'c1'],
    ['padding', '00c100'],
  ])('rejects %s', (_n, h) => {
    expect(() => decodeTlvs(Buffer.from(h, 'hex'))).toThrow(CardError);
  });

  it('requireTlv checks presence and length', () => {
    const t = decodeTlvs(Buffer.from('c10101', 'hex'));
    expect(requireTlv(t, 0xc1, 1).toString('hex')).toBe('01');
    expect(() => requireTlv(t, 0xc1, 2)).toThrow(CardError);
    expect(() => requireTlv(t, 0xc2)).toThrow(CardError);
  });
});

describe('status words', () => {
  it.each([
    [0x9000, 'OK'],
    [0x6700, 'wrong length'],
    [0x6982, 'security status not satisfied'],
    [0x6983, 'authentication method blocked'],
    [0x6985, 'conditions of use not satisfied'],
    [0x6988, 'incorrect secure messaging data'],
    [0x6a80, 'incorrect data'],
    [0x6a82, 'application not found'],
    [0x6a88, 'referenced data not found'],
    [0x6d00, 'instruction not supported'],
    [0x6115, 'response bytes available'],
    [0x6c10, 'wrong Le'],
    [0x63c2, 'verification failed'],
    [0x1234, 'unknown status'],
  ])('%s is %s', (sw, name) => {
    expect(describeStatusWord(sw).name).toBe(name);
    expect(describeStatusWord(sw).action.length).toBeGreaterThan(0);
  });

  it('reads tries left from 63Cx only', () => {
    expect(triesLeft(0x63c2)).toBe(2);
    expect(triesLeft(0x63c0)).toBe(0);
    expect(triesLeft(0x6983)).toBeUndefined();
    expect(triesLeft(0x6310)).toBeUndefined();
    expect(describeStatusWord(0x6115).meaning).toMatch(/21 bytes/);
    expect(describeStatusWord(0x6100).meaning).toMatch(/256 or more/);
  });
});

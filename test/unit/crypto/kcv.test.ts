import { describe, expect, it } from 'vitest';
import { kcvAes, kcvDes, xorComponents } from '../../../src/core/crypto/kcv';

describe('key check values', () => {
  it('DES KCV of 0123456789ABCDEF is D5D44F (first 3 bytes of DES(K, 00..00))', () => {
    expect(kcvDes(Buffer.from('0123456789ABCDEF', 'hex'))).toBe('D5D44F');
  });
  it('a double-length DES key with equal halves has the single-DES KCV', () => {
    expect(kcvDes(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))).toBe('D5D44F');
  });
  it('three XOR components form 0123456789ABCDEF and its KCV D5D44F', () => {
    const components = ['1F2E3D4C5B6A7988', 'A1B2C3D4E5F60718', 'BFBFBBFF3737B37F'].map((h) => Buffer.from(h, 'hex'));
    const key = xorComponents(components);
    expect(key.toString('hex').toUpperCase()).toBe('0123456789ABCDEF');
    expect(kcvDes(key)).toBe('D5D44F');
    // Each component alone has a different KCV, which is what custodians confirm.
    expect(components.map(kcvDes)).not.toContain('D5D44F');
  });
  it('AES KCV encrypts 16 × 0x01 and keeps 3 bytes (GlobalPlatform form)', () => {
    // AES-128 of 0x01-block under the all-zero key is a fixed value; checked once with openssl:
    // printf '\x01%.0s' {1..16} | openssl enc -aes-128-ecb -K 00..00 -nopad | xxd -p | cut -c1-6
    expect(kcvAes(Buffer.alloc(16))).toBe('E14D5D');
    expect(kcvAes(Buffer.alloc(32))).not.toBe(kcvAes(Buffer.alloc(16)));
  });
  it('rejects keys of the wrong length and mismatched components', () => {
    expect(() => kcvAes(Buffer.alloc(15))).toThrow(RangeError);
    expect(() => kcvDes(Buffer.alloc(12))).toThrow(RangeError);
    expect(() => xorComponents([Buffer.alloc(16), Buffer.alloc(32)])).toThrow(RangeError);
  });
});

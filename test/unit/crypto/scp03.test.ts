import { describe, expect, it } from 'vitest';
import { kcvAes } from '../../../src/core/crypto/kcv';
import { SCP03_S_ENC, SCP03_S_MAC, deriveScp03Key } from '../../../src/core/crypto/scp03';

// GlobalPlatform SCP03 session keys from the default static key 40..4F.
// The published KCVs (S-ENC C25559, S-MAC 0E12CC) match when the context is exactly the ten
// bytes 00 01 .. 09 — i.e. the KDF takes "host challenge || card challenge" as opaque bytes and
// this vector simply uses a 10-byte context. With the S8-mode 16-byte context
// 00..07 || 08..0F the KCVs are different (asserted below, so the layout is pinned both ways).
const staticKey = Buffer.from('404142434445464748494a4b4c4d4e4f', 'hex');
const context = Buffer.from('00010203040506070809', 'hex');

describe('GlobalPlatform SCP03 session key derivation', () => {
  it('S-ENC has KCV C25559', () => {
    expect(kcvAes(deriveScp03Key(staticKey, SCP03_S_ENC, context))).toBe('C25559');
  });
  it('S-MAC has KCV 0E12CC', () => {
    expect(kcvAes(deriveScp03Key(staticKey, SCP03_S_MAC, context))).toBe('0E12CC');
  });
  it('the context is not padded: a 16-byte challenge pair gives other keys', () => {
    const s8 = Buffer.concat([Buffer.from('0001020304050607', 'hex'), Buffer.from('08090a0b0c0d0e0f', 'hex')]);
    expect(kcvAes(deriveScp03Key(staticKey, SCP03_S_ENC, s8))).not.toBe('C25559');
  });
  it('derives 256-bit session keys with two counter blocks', () => {
    const k = deriveScp03Key(Buffer.alloc(32, 0x40), SCP03_S_MAC, context, 256);
    expect(k.length).toBe(32);
    expect(k.subarray(0, 16).equals(k.subarray(16))).toBe(false);
  });
});

import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { aesCmac } from '../../crypto/aes-cmac';
import { deriveKey } from '../../crypto/sp800-108';
import { MAC_LENGTH } from './profile.constants';

// Secure messaging of the OTAC profile (docs/card-profile.md section 6) over raw key bytes.
// Both sides use it: the virtual card, and key ports that hold key bytes internally.
// Keys are AES-128; every MAC is a full 16-byte AES-CMAC.

export interface SessionKeys {
  readonly enc: Buffer;
  readonly mac: Buffer;
  readonly rmac: Buffer;
}

export interface SmHeader {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
}

const BLOCK = 16;

export function deriveSessionKeys(cardKey: Buffer, hostChallenge: Buffer, cardChallenge: Buffer): SessionKeys {
  const ctx = Buffer.concat([hostChallenge, cardChallenge]);
  return {
    enc: deriveKey(cardKey, 'OTAC SM ENC', ctx, 128),
    mac: deriveKey(cardKey, 'OTAC SM MAC', ctx, 128),
    rmac: deriveKey(cardKey, 'OTAC SM RMAC', ctx, 128),
  };
}

export function cardCryptogram(keys: SessionKeys, hostChallenge: Buffer, cardChallenge: Buffer): Buffer {
  return aesCmac(keys.mac, Buffer.concat([Buffer.from([0x01]), hostChallenge, cardChallenge]));
}

export function counterBytes(counter: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(counter >>> 0);
  return b;
}

/** ISO/IEC 9797-1 padding method 2: 0x80 then zeros to a block boundary (always adds ≥ 1 byte). */
export function padM2(data: Buffer): Buffer {
  const padLen = BLOCK - (data.length % BLOCK);
  const out = Buffer.alloc(data.length + padLen);
  data.copy(out);
  out[data.length] = 0x80;
  return out;
}

/** Inverse of padM2; undefined when the padding is wrong. */
export function unpadM2(data: Buffer): Buffer | undefined {
  if (data.length === 0 || data.length % BLOCK !== 0) return undefined;
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0x00) i--;
  if (i < 0 || data[i] !== 0x80 || data.length - i > BLOCK) return undefined;
  return Buffer.from(data.subarray(0, i));
}

export function aesEcbBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

export function aesCbc(key: Buffer, iv: Buffer, data: Buffer, encrypt: boolean): Buffer {
  const c = encrypt ? createCipheriv('aes-128-cbc', key, iv) : createDecipheriv('aes-128-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

function icv(keys: SessionKeys, counter: number, response: boolean): Buffer {
  const block = Buffer.alloc(BLOCK);
  if (response) block[0] = 0x80;
  counterBytes(counter).copy(block, 12);
  return aesEcbBlock(keys.enc, block);
}

function headerBytes(h: SmHeader): Buffer {
  return Buffer.from([h.cla & ~0x10 & 0xff, h.ins, h.p1, h.p2]);
}

export function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Command data field E || T for SM command number `counter`. */
export function smWrapCommand(keys: SessionKeys, counter: number, h: SmHeader, plaintext: Buffer): Buffer {
  const e =
    plaintext.length === 0 ? Buffer.alloc(0) : aesCbc(keys.enc, icv(keys, counter, false), padM2(plaintext), true);
  const t = aesCmac(keys.mac, Buffer.concat([counterBytes(counter), headerBytes(h), e]));
  return Buffer.concat([e, t]);
}

/** Card side: plaintext of a verified SM command, or undefined if the MAC or padding is wrong. */
export function smUnwrapCommand(keys: SessionKeys, counter: number, h: SmHeader, data: Buffer): Buffer | undefined {
  if (data.length < MAC_LENGTH || (data.length - MAC_LENGTH) % BLOCK !== 0) return undefined;
  const e = data.subarray(0, data.length - MAC_LENGTH);
  const t = data.subarray(data.length - MAC_LENGTH);
  const expected = aesCmac(keys.mac, Buffer.concat([counterBytes(counter), headerBytes(h), e]));
  if (!macEquals(expected, t)) return undefined;
  if (e.length === 0) return Buffer.alloc(0);
  return unpadM2(aesCbc(keys.enc, icv(keys, counter, false), e, false));
}

/** Card side: response data field E' || T' (SW travels in clear but is MACed). */
export function smWrapResponse(keys: SessionKeys, counter: number, plaintext: Buffer, sw: number): Buffer {
  const e =
    plaintext.length === 0 ? Buffer.alloc(0) : aesCbc(keys.enc, icv(keys, counter, true), padM2(plaintext), true);
  const t = aesCmac(keys.rmac, Buffer.concat([counterBytes(counter), e, Buffer.from([sw >> 8, sw & 0xff])]));
  return Buffer.concat([e, t]);
}

/** Host side: plaintext of a verified SM response, or undefined if R-MAC or padding is wrong. */
export function smUnwrapResponse(keys: SessionKeys, counter: number, data: Buffer, sw: number): Buffer | undefined {
  if (data.length < MAC_LENGTH || (data.length - MAC_LENGTH) % BLOCK !== 0) return undefined;
  const e = data.subarray(0, data.length - MAC_LENGTH);
  const t = data.subarray(data.length - MAC_LENGTH);
  const expected = aesCmac(
    keys.rmac,
    Buffer.concat([counterBytes(counter), e, Buffer.from([(sw >> 8) & 0xff, sw & 0xff])]),
  );
  if (!macEquals(expected, t)) return undefined;
  if (e.length === 0) return Buffer.alloc(0);
  return unpadM2(aesCbc(keys.enc, icv(keys, counter, true), e, false));
}

/** Key check value: first 3 bytes of AES-ECB(key, 16 × 0x01), as GlobalPlatform does for AES. */
export function keyCheckValue(key: Buffer): Buffer {
  return aesEcbBlock(key, Buffer.alloc(BLOCK, 0x01)).subarray(0, 3);
}

/** Transport key of a blank card, diversified by the card vendor from its transport master key. */
export function deriveTransportKey(vendorMasterKey: Buffer, cardId: Buffer): Buffer {
  return deriveKey(vendorMasterKey, 'OTAC transport', cardId, 128);
}

/** Key for challenge-response (both variants), derived from the card key. */
export function deriveChallengeKey(cardKey: Buffer, cardId: Buffer): Buffer {
  return deriveKey(cardKey, 'OTAC challenge', cardId, 128);
}

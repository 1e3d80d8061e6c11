import { createCipheriv } from 'node:crypto';
import { aesCmac } from '../../../../src/core/crypto/aes-cmac';

// The fixed keys and challenges of docs/card-profile.md Appendix B, and the profile's primitives
// written out from its text (1.2, 6.3, 6.4, 7.3), for the byte-for-byte APDU tests. Nothing here
// calls the host's SM or envelope code, so the host cannot drift together with its tests.
// AES-CMAC is the one shared primitive; it is checked against RFC 4493 in its own test.

export const K = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
export const HC = Buffer.from('101112131415161718191A1B1C1D1E1F', 'hex');
export const CC = Buffer.from('202122232425262728292A2B2C2D2E2F', 'hex');
export const CARD_ID = Buffer.from('0102030405060708', 'hex');
// Appendix B: the session keys of K with HC and CC.
export const S_ENC = Buffer.from('88836AA12E88B947FF56AD81C2C0D7FF', 'hex');
export const S_MAC = Buffer.from('A2A4E23577B62BD198EBA4F1E9CAB712', 'hex');
export const S_RMAC = Buffer.from('9A38F5C299E53242945542E1CB32223C', 'hex');
export const CARD_CRYPTOGRAM = Buffer.from('2451E441A0D7CCC8458A994C7F943A52', 'hex');
/** Appendix B: the transport key of CARD_ID under the development VTMK 40…4F. */
export const KT = Buffer.from('DA517DB2ABB69FBC1D99F5AB8043F3CC', 'hex');
/** Appendix B: the list keys and receipt key of K for CARD_ID and list seq 1. */
export const E_ENC_1 = Buffer.from('6441D81B33B2A7542E76E08F45A8FB52', 'hex');
export const E_MAC_1 = Buffer.from('663B37D2920ED4473F72C455A52F2BFA', 'hex');
export const RECEIPT_KEY_1 = Buffer.from('68D414EBE089D4DAFC77904BB51620B9', 'hex');
/** A next card key for rotation tests (not in Appendix B). */
export const K_NEXT = Buffer.from('F0E0D0C0B0A090807060504030201000', 'hex');

export const ecb = (key: Buffer, block: Buffer): Buffer => {
  const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
};
export const cbc = (key: Buffer, iv: Buffer, data: Buffer): Buffer => {
  const c = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
};
/** ISO/IEC 9797-1 method 2. */
export const pad = (p: Buffer): Buffer => {
  const out = Buffer.alloc((Math.floor(p.length / 16) + 1) * 16);
  p.copy(out);
  out[p.length] = 0x80;
  return out;
};
export const u16 = (n: number): Buffer => Buffer.from([(n >>> 8) & 0xff, n & 0xff]);
export const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
export const hex = (...parts: (Buffer | string)[]): string =>
  parts.map((p) => (typeof p === 'string' ? p : p.toString('hex'))).join('');

/** Profile 1.2: KDF(K, label, context) = CMAC(K, '00000001' || label || '00' || context || '00000080'). */
export const kdf = (key: Buffer, label: string, context: Buffer): Buffer =>
  aesCmac(key, Buffer.concat([u32(1), Buffer.from(label, 'ascii'), Buffer.from([0]), context, u32(128)]));

export interface SessionKeys {
  readonly enc: Buffer;
  readonly mac: Buffer;
  readonly rmac: Buffer;
}

/** Profile 6.2: the session keys of a key and both challenges. */
export const sessionKeys = (key: Buffer, hc: Buffer, cc: Buffer): SessionKeys => ({
  enc: kdf(key, 'OTAC SM ENC', Buffer.concat([hc, cc])),
  mac: kdf(key, 'OTAC SM MAC', Buffer.concat([hc, cc])),
  rmac: kdf(key, 'OTAC SM RMAC', Buffer.concat([hc, cc])),
});

/** Profile 6.2: CMAC(S-MAC, '01' || HC || CC). */
export const cardCryptogram = (s: SessionKeys, hc: Buffer, cc: Buffer): Buffer =>
  aesCmac(s.mac, Buffer.concat([Buffer.from([0x01]), hc, cc]));

/** Profile 6.3: the whole SM command APDU (short form, Le 00) for command number c. */
export function smCommand(s: SessionKeys, c: number, header: string, plaintext: Buffer): string {
  const icv = ecb(s.enc, Buffer.concat([Buffer.alloc(12), u32(c)]));
  const e = plaintext.length === 0 ? Buffer.alloc(0) : cbc(s.enc, icv, pad(plaintext));
  const h = Buffer.from(header, 'hex');
  const t = aesCmac(s.mac, Buffer.concat([u32(c), Buffer.from([0x84]), h.subarray(1), e]));
  const data = Buffer.concat([e, t]);
  return hex(h, Buffer.from([data.length]), data, '00');
}

/** Profile 6.4: the card's answer E' || T' || SW for command number c. */
export function smAnswer(s: SessionKeys, c: number, response: Buffer, sw: string): string {
  const icv = ecb(s.enc, Buffer.concat([Buffer.from([0x80]), Buffer.alloc(11), u32(c)]));
  const e = response.length === 0 ? Buffer.alloc(0) : cbc(s.enc, icv, pad(response));
  const t = aesCmac(s.rmac, Buffer.concat([u32(c), e, Buffer.from(sw, 'hex')]));
  return hex(e, t, sw);
}

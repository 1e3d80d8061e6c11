import { constants, createHash, createPublicKey, publicEncrypt, type KeyObject } from 'node:crypto';
import { aesCmac } from '../../crypto/aes-cmac';
import { deriveKey } from '../../crypto/sp800-108';
import { CardError } from '../card-error';
import { CARD_ID_LENGTH, MAC_LENGTH, RSA_MODULUS_LENGTH } from './profile.constants';
import { aesCbc, counterBytes, macEquals, padM2, unpadM2 } from './sm-crypto';

// The list envelope (docs/card-profile.md section 7.3): a signed list encrypted and MACed for
// one card and one list sequence number, so it can be made offline, travel any channel, and
// never be replayed (the card refuses a sequence number it has already passed).

export const ENVELOPE_CARD_KEY = 0x01;
export const ENVELOPE_PUBLIC_KEY = 0x02;
export const ENVELOPE_HEADER_LENGTH = 1 + 1 + CARD_ID_LENGTH + 4;
/** P = P-ENC || P-MAC, the fresh symmetric key pair wrapped under the card's RSA key. */
export const WRAPPED_SECRET_LENGTH = 32;

export interface EnvelopeHeader {
  readonly type: number;
  readonly keyVersion: number;
  readonly cardId: Buffer;
  readonly listSeq: number;
}

export interface ParsedEnvelope {
  readonly header: EnvelopeHeader;
  /** RSA-OAEP wrapped P, for type 02 only. */
  readonly wrapped: Buffer | undefined;
  readonly ciphertext: Buffer;
  readonly mac: Buffer;
  /** Everything the MAC covers. */
  readonly macInput: Buffer;
}

export interface EnvelopeKeys {
  readonly enc: Buffer;
  readonly mac: Buffer;
}

function envelopeError(why: string): CardError {
  return new CardError('CARD_ENVELOPE_MALFORMED', `The list envelope is malformed (${why}). Prepare the list again.`);
}

export function encodeEnvelopeHeader(h: EnvelopeHeader): Buffer {
  const b = Buffer.alloc(ENVELOPE_HEADER_LENGTH);
  b[0] = h.type;
  b[1] = h.keyVersion;
  h.cardId.copy(b, 2);
  b.writeUInt32BE(h.listSeq >>> 0, 10);
  return b;
}

export function parseEnvelope(buf: Buffer): ParsedEnvelope {
  if (buf.length < ENVELOPE_HEADER_LENGTH + MAC_LENGTH + 16) throw envelopeError('too short');
  const type = buf[0] ?? 0;
  if (type !== ENVELOPE_CARD_KEY && type !== ENVELOPE_PUBLIC_KEY) throw envelopeError('unknown type');
  const header: EnvelopeHeader = {
    type,
    keyVersion: buf[1] ?? 0,
    cardId: Buffer.from(buf.subarray(2, 10)),
    listSeq: buf.readUInt32BE(10),
  };
  let o = ENVELOPE_HEADER_LENGTH;
  let wrapped: Buffer | undefined;
  if (type === ENVELOPE_PUBLIC_KEY) {
    const wl = buf.readUInt16BE(o);
    if (wl !== RSA_MODULUS_LENGTH || o + 2 + wl + MAC_LENGTH + 16 > buf.length)
      throw envelopeError('wrapped key length');
    wrapped = Buffer.from(buf.subarray(o + 2, o + 2 + wl));
    o += 2 + wl;
  }
  const ciphertext = Buffer.from(buf.subarray(o, buf.length - MAC_LENGTH));
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw envelopeError('ciphertext length');
  return {
    header,
    wrapped,
    ciphertext,
    mac: Buffer.from(buf.subarray(buf.length - MAC_LENGTH)),
    macInput: Buffer.from(buf.subarray(0, buf.length - MAC_LENGTH)),
  };
}

function seqContext(cardId: Buffer, listSeq: number): Buffer {
  return Buffer.concat([cardId, counterBytes(listSeq)]);
}

export function envelopeKeysFromCardKey(cardKey: Buffer, cardId: Buffer, listSeq: number): EnvelopeKeys {
  const ctx = seqContext(cardId, listSeq);
  return { enc: deriveKey(cardKey, 'OTAC list ENC', ctx, 128), mac: deriveKey(cardKey, 'OTAC list MAC', ctx, 128) };
}

export function envelopeKeysFromSecret(p: Buffer): EnvelopeKeys {
  return { enc: Buffer.from(p.subarray(0, 16)), mac: Buffer.from(p.subarray(16, 32)) };
}

/** Receipt key: from the card key (type 01) or from P-MAC (type 02). */
export function deriveReceiptKey(base: Buffer, cardId: Buffer, listSeq: number): Buffer {
  return deriveKey(base, 'OTAC receipt', seqContext(cardId, listSeq), 128);
}

export function sealEnvelope(h: EnvelopeHeader, keys: EnvelopeKeys, signedList: Buffer, wrapped?: Buffer): Buffer {
  const parts = [encodeEnvelopeHeader(h)];
  if (h.type === ENVELOPE_PUBLIC_KEY) {
    if (!wrapped) throw envelopeError('public-key envelope without wrapped key');
    const wl = Buffer.alloc(2);
    wl.writeUInt16BE(wrapped.length);
    parts.push(wl, wrapped);
  }
  parts.push(aesCbc(keys.enc, Buffer.alloc(16), padM2(signedList), true));
  const body = Buffer.concat(parts);
  return Buffer.concat([body, aesCmac(keys.mac, body)]);
}

/** The signed list inside, or undefined when the MAC or padding does not verify. */
export function openEnvelope(env: ParsedEnvelope, keys: EnvelopeKeys): Buffer | undefined {
  if (!macEquals(aesCmac(keys.mac, env.macInput), env.mac)) return undefined;
  return unpadM2(aesCbc(keys.enc, Buffer.alloc(16), env.ciphertext, false));
}

/** RSA-OAEP (SHA-1, MGF1-SHA-1, empty label: Java Card's Cipher.ALG_RSA_PKCS1_OAEP) of P. */
export function wrapSecretForCard(cardPublicKey: KeyObject, p: Buffer): Buffer {
  return publicEncrypt({ key: cardPublicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, p);
}

/** The card's RSA public key from the GENERATE KEY PAIR response (modulus || exponent). */
export function rsaPublicKeyFrom(modulus: Buffer, exponent: Buffer): KeyObject {
  return createPublicKey({
    key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') },
    format: 'jwk',
  });
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** What the receipt MAC covers: 'R' || card id || list seq || list id || SHA-256(list body). */
export function receiptMessage(cardId: Buffer, listSeq: number, listId: Buffer, bodyHash: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x52]), cardId, counterBytes(listSeq), listId, bodyHash]);
}

import { CardError } from '../card-error';
import { CARD_ID_LENGTH, EC_POINT_LENGTH, MAX_LIST_ENTRIES } from './profile.constants';

// The code list as the card stores it (source 003 FIG. 3: sequence index, code, used mark)
// and the signed form the issuer sends (docs/card-profile.md section 7.2). Fixed binary
// layout, big-endian, so a Java Card applet parses it with plain offsets.

export interface ListEntry {
  readonly index: number;
  readonly code: string;
}

export interface ListBody {
  readonly cardId: Buffer;
  readonly listSeq: number;
  /** 16-byte table id (the issuer's UUID). */
  readonly listId: Buffer;
  /** Expiry, seconds since 1970 UTC. The card has no clock: it reports it, the issuer enforces it. */
  readonly expiry: number;
  /** Remaining-codes threshold at which the card raises the low-codes flag. */
  readonly threshold: number;
  readonly codeLength: number;
  readonly entries: readonly ListEntry[];
}

export interface SignedList {
  readonly body: Buffer;
  /** Issuer ECDSA P-256 public key, uncompressed point 04 || X || Y. */
  readonly issuerPublicKey: Buffer;
  /** CA signature (ECDSA-SHA256, DER) over 01 || issuerPublicKey. */
  readonly caSignature: Buffer;
  /** Issuer signature (ECDSA-SHA256, DER) over body. */
  readonly issuerSignature: Buffer;
}

export const LIST_FORMAT_VERSION = 1;
const HEADER = 1 + CARD_ID_LENGTH + 4 + 16 + 4 + 2 + 1 + 2;

function listError(why: string): CardError {
  return new CardError(
    'CARD_LIST_MALFORMED',
    `The code list is malformed (${why}). Prepare the list again; if it repeats, report it.`,
  );
}

const isCodeChar = (c: number): boolean => c >= 0x21 && c <= 0x7e;

export function encodeListBody(b: ListBody): Buffer {
  if (b.cardId.length !== CARD_ID_LENGTH || b.listId.length !== 16) throw listError('card id or list id length');
  if (b.codeLength < 4 || b.codeLength > 16) throw listError('code length must be 4..16');
  if (b.entries.length < 1 || b.entries.length > MAX_LIST_ENTRIES) throw listError(`1..${MAX_LIST_ENTRIES} entries`);
  const out = Buffer.alloc(HEADER + b.entries.length * (2 + b.codeLength));
  let o = out.writeUInt8(LIST_FORMAT_VERSION, 0);
  o += b.cardId.copy(out, o);
  o = out.writeUInt32BE(b.listSeq, o);
  o += b.listId.copy(out, o);
  o = out.writeUInt32BE(b.expiry, o);
  o = out.writeUInt16BE(b.threshold, o);
  o = out.writeUInt8(b.codeLength, o);
  o = out.writeUInt16BE(b.entries.length, o);
  let prev = 0;
  for (const e of b.entries) {
    const code = Buffer.from(e.code, 'latin1');
    if (e.index <= prev || e.index > 0xffff) throw listError('indexes must be ascending, 1..65535');
    if (code.length !== b.codeLength || !code.every(isCodeChar)) throw listError('code length or characters');
    prev = e.index;
    o = out.writeUInt16BE(e.index, o);
    o += code.copy(out, o);
  }
  return out;
}

export function decodeListBody(buf: Buffer): ListBody {
  if (buf.length < HEADER) throw listError('too short');
  if (buf[0] !== LIST_FORMAT_VERSION) throw listError('unknown version');
  const codeLength = buf.readUInt8(HEADER - 3);
  const count = buf.readUInt16BE(HEADER - 2);
  if (codeLength < 4 || codeLength > 16) throw listError('code length');
  if (count < 1 || count > MAX_LIST_ENTRIES) throw listError('entry count');
  if (buf.length !== HEADER + count * (2 + codeLength)) throw listError('length does not match entry count');
  const entries: ListEntry[] = [];
  let o = HEADER;
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const index = buf.readUInt16BE(o);
    const code = buf.subarray(o + 2, o + 2 + codeLength);
    if (index <= prev || !code.every(isCodeChar)) throw listError('entry order or characters');
    prev = index;
    entries.push({ index, code: code.toString('latin1') });
    o += 2 + codeLength;
  }
  return {
    cardId: Buffer.from(buf.subarray(1, 9)),
    listSeq: buf.readUInt32BE(9),
    listId: Buffer.from(buf.subarray(13, 29)),
    expiry: buf.readUInt32BE(29),
    threshold: buf.readUInt16BE(33),
    codeLength,
    entries,
  };
}

/** The message the CA signs to certify an issuer key. */
export function issuerKeyMessage(issuerPublicKey: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x01]), issuerPublicKey]);
}

export function encodeSignedList(s: SignedList): Buffer {
  if (s.body.length > 0xffff || s.issuerPublicKey.length !== EC_POINT_LENGTH) throw listError('body or key length');
  if (s.caSignature.length > 0xff || s.issuerSignature.length > 0xff) throw listError('signature length');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(s.body.length);
  return Buffer.concat([
    len,
    s.body,
    s.issuerPublicKey,
    Buffer.from([s.caSignature.length]),
    s.caSignature,
    Buffer.from([s.issuerSignature.length]),
    s.issuerSignature,
  ]);
}

export function decodeSignedList(buf: Buffer): SignedList {
  if (buf.length < 2) throw listError('too short');
  const bodyLen = buf.readUInt16BE(0);
  let o = 2 + bodyLen;
  if (o + EC_POINT_LENGTH + 1 > buf.length) throw listError('truncated');
  const body = Buffer.from(buf.subarray(2, o));
  const issuerPublicKey = Buffer.from(buf.subarray(o, o + EC_POINT_LENGTH));
  o += EC_POINT_LENGTH;
  const caLen = buf.readUInt8(o++);
  if (o + caLen + 1 > buf.length) throw listError('truncated CA signature');
  const caSignature = Buffer.from(buf.subarray(o, o + caLen));
  o += caLen;
  const isLen = buf.readUInt8(o++);
  if (o + isLen !== buf.length) throw listError('issuer signature length');
  return { body, issuerPublicKey, caSignature, issuerSignature: Buffer.from(buf.subarray(o)) };
}

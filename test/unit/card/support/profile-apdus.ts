import { createDecipheriv, createHash } from 'node:crypto';
import { aesCmac } from '../../../../src/core/crypto/aes-cmac';
import type { ScriptStep } from './scripted-card';
import { CARD_ID, cbc, hex, pad, u16, u32 } from './profile-reference';

// Command and answer bytes of docs/card-profile.md (3, 3.1, 7.2–7.6, 10, 11), written out from the
// text for the byte-for-byte APDU tests; independent of the host's codec, list and envelope code.

export const AID = 'F04F5441430001';
export const SELECT = `00A4040007${AID}00`;
export const GET_STATE = '80CA000000';
export const COMMIT = '8054000000';
export const GET_RECEIPT = '8056000000';
export const byte = (n: number): string => Buffer.from([n]).toString('hex');

/** Profile 3.1: the FCI of a card taking `maxNc` bytes per APDU, with or without extended length. */
export function fci(maxNc: number, extended: boolean, cardId: Buffer = CARD_ID): string {
  const prop = hex('C108', cardId, 'C20101', 'D502', u16(maxNc), 'D601', extended ? '01' : '00');
  const inner = hex(`8407${AID}A5`, byte(prop.length / 2), prop);
  return hex('6F', byte(inner.length / 2), inner, '9000');
}

/** Profile 10: a GET STATE answer (life cycle byte, N, key version, last committed list seq), SW 9000. */
export function stateAnswer(lifeCycle: number, n: string | null, keyVersion: number, lastSeq: number): string {
  const tlv = (tag: string, v: Buffer | string) => hex(tag, byte(Buffer.from(hex(v), 'hex').length), v);
  return hex(
    tlv('C0', byte(lifeCycle)),
    tlv('C1', CARD_ID),
    tlv('C2', '01'),
    ...(n === null ? [] : [tlv('C3', Buffer.from(n, 'latin1'))]),
    tlv('C4', byte(keyVersion)),
    tlv('C5', '03'),
    tlv('C6', '05'),
    tlv('CD', '00'),
    tlv('CE', u32(lastSeq)),
    ...['D0', 'D1', 'D2', 'D3', 'D4'].map((t) => tlv(t, u32(0))),
    '9000',
  );
}

/** Profile 7.4: STAGE LIST chunk `n` as one APDU, in the shortest form that holds it (no Le: no answer data). */
export function stage(n: number, piece: Buffer): string {
  return piece.length <= 255
    ? hex('8052', u16(n), byte(piece.length), piece)
    : hex('8052', u16(n), '00', u16(piece.length), piece);
}

/** Profile 11.2: one STAGE LIST chunk as chained short pieces of ≤ 255 bytes (CLA 90 … 80), each answered 9000. */
export function stageChained(n: number, data: Buffer): ScriptStep[] {
  const steps: ScriptStep[] = [];
  for (let off = 0; off < data.length; off += 255) {
    const piece = data.subarray(off, off + 255);
    const last = off + 255 >= data.length;
    steps.push([hex(last ? '80' : '90', '52', u16(n), byte(piece.length), piece), '9000']);
  }
  return steps;
}

export interface ListFields {
  readonly cardId: Buffer;
  readonly listSeq: number;
  readonly listId: Buffer;
  readonly expiry: number;
  readonly threshold: number;
  readonly digits: number;
}

/** Profile 7.2: the list body, fixed layout, entries 1..codes.length. */
export function listBody(f: ListFields, codes: readonly string[]): Buffer {
  return Buffer.concat([
    Buffer.from([0x01]),
    f.cardId,
    u32(f.listSeq),
    f.listId,
    u32(f.expiry),
    u16(f.threshold),
    Buffer.from([f.digits]),
    u16(codes.length),
    ...codes.map((code, i) => Buffer.concat([u16(i + 1), Buffer.from(code, 'ascii')])),
  ]);
}

export interface SignedListParts {
  readonly body: Buffer;
  readonly issuerPoint: Buffer;
  readonly caSig: Buffer;
  readonly issuerSig: Buffer;
}

/** Profile 7.2: [len(body)]16 || body || issuer key || [len(caSig)]8 || caSig || [len(issuerSig)]8 || issuerSig. */
export function signedList(s: SignedListParts): Buffer {
  return Buffer.concat([
    u16(s.body.length),
    s.body,
    s.issuerPoint,
    Buffer.from([s.caSig.length]),
    s.caSig,
    Buffer.from([s.issuerSig.length]),
    s.issuerSig,
  ]);
}

/** Profile 7.2, read at its offsets. */
export function readSignedList(signed: Buffer): SignedListParts {
  const bodyLength = signed.readUInt16BE(0);
  let o = 2 + bodyLength;
  const issuerPoint = signed.subarray(o, o + 65);
  o += 65;
  const caSig = signed.subarray(o + 1, o + 1 + (signed[o] ?? 0));
  o += 1 + caSig.length;
  return { body: signed.subarray(2, 2 + bodyLength), issuerPoint, caSig, issuerSig: signed.subarray(o + 1) };
}

/** Profile 7.3: type 01 envelope = header || C || M, C under E-ENC with a zero IV, M = CMAC(E-MAC, header || C). */
export function envelope01(
  keys: { enc: Buffer; mac: Buffer },
  keyVersion: number,
  f: Pick<ListFields, 'cardId' | 'listSeq'>,
  signed: Buffer,
): Buffer {
  const header = Buffer.concat([Buffer.from([0x01, keyVersion]), f.cardId, u32(f.listSeq)]);
  const c = cbc(keys.enc, Buffer.alloc(16), pad(signed));
  return Buffer.concat([header, c, aesCmac(keys.mac, Buffer.concat([header, c]))]);
}

/** Profile 7.3: the signed list inside an envelope (padding removed); type 02 headers are 14 + 2 + 256 bytes. */
export function openEnvelopeBody(envelope: Buffer, enc: Buffer, headerLength = 14): Buffer {
  const decipher = createDecipheriv('aes-128-cbc', enc, Buffer.alloc(16)).setAutoPadding(false);
  const padded = Buffer.concat([
    decipher.update(envelope.subarray(headerLength, envelope.length - 16)),
    decipher.final(),
  ]);
  return padded.subarray(0, padded.lastIndexOf(0x80));
}

/** Profile 7.6: CMAC(receipt key, '52' || card id || [list seq]32 || list id || SHA-256(body)). */
export function receiptMac(
  receiptKey: Buffer,
  f: Pick<ListFields, 'cardId' | 'listSeq' | 'listId'>,
  body: Buffer,
): Buffer {
  return aesCmac(
    receiptKey,
    Buffer.concat([
      Buffer.from([0x52]),
      f.cardId,
      u32(f.listSeq),
      f.listId,
      createHash('sha256').update(body).digest(),
    ]),
  );
}

/**
 * Profile 7.3, type 02: header (02, key version 00) || [256]16 || W || C || M, with E-ENC || E-MAC = P,
 * the 32 bytes the card unwraps from W. The caller unwraps W with the card's private key.
 */
export function envelope02(
  p: Buffer,
  wrapped: Buffer,
  f: Pick<ListFields, 'cardId' | 'listSeq'>,
  signed: Buffer,
): Buffer {
  const head = Buffer.concat([Buffer.from([0x02, 0x00]), f.cardId, u32(f.listSeq), u16(wrapped.length), wrapped]);
  const c = cbc(p.subarray(0, 16), Buffer.alloc(16), pad(signed));
  return Buffer.concat([head, c, aesCmac(p.subarray(16, 32), Buffer.concat([head, c]))]);
}

/** Profile 7.3, type 02: W, read at its offset. */
export function wrappedIn(envelope: Buffer): Buffer {
  return envelope.subarray(16, 16 + envelope.readUInt16BE(14));
}

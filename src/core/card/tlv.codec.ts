import { CardError } from './card-error';

// BER-TLV as ISO/IEC 7816-4 uses it: tags of 1–3 bytes, definite lengths up to 0xFFFFFF.
// Decoding is strict (no indefinite length, no padding bytes) and total: bad input is a CardError.

export interface Tlv {
  readonly tag: number;
  readonly value: Buffer;
  /** Bit b6 of the first tag byte: the value is itself a TLV sequence. */
  readonly constructed: boolean;
}

function tlvError(why: string): CardError {
  return new CardError(
    'CARD_TLV_MALFORMED',
    `The card sent malformed TLV data (${why}). Remove and re-insert the card and retry.`,
  );
}

function tagBytes(tag: number): Buffer {
  if (!Number.isInteger(tag) || tag <= 0 || tag > 0xffffff)
    throw new CardError(
      'CARD_TLV_INVALID',
      `TLV tag ${String(tag)} is out of range. This is a software fault; report it.`,
    );
  if (tag <= 0xff) return Buffer.from([tag]);
  if (tag <= 0xffff) return Buffer.from([tag >> 8, tag & 0xff]);
  return Buffer.from([tag >> 16, (tag >> 8) & 0xff, tag & 0xff]);
}

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n <= 0xff) return Buffer.from([0x81, n]);
  if (n <= 0xffff) return Buffer.from([0x82, n >> 8, n & 0xff]);
  if (n <= 0xffffff) return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  throw new CardError('CARD_TLV_INVALID', 'TLV value longer than 16 MB. This is a software fault; report it.');
}

export function encodeTlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([tagBytes(tag), lengthBytes(value.length), value]);
}

export function encodeTlvs(items: ReadonlyArray<readonly [number, Buffer]>): Buffer {
  return Buffer.concat(items.map(([t, v]) => encodeTlv(t, v)));
}

/** Decodes a sequence of TLVs filling `buf` exactly. */
export function decodeTlvs(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let i = 0;
  while (i < buf.length) {
    const first = buf[i++] ?? 0;
    if (first === 0x00 || first === 0xff) throw tlvError('padding byte where a tag was expected');
    let tag = first;
    if ((first & 0x1f) === 0x1f) {
      let more = true;
      let extra = 0;
      while (more) {
        if (i >= buf.length) throw tlvError('tag truncated');
        if (++extra > 2) throw tlvError('tag longer than 3 bytes');
        const b = buf[i++] ?? 0;
        tag = (tag << 8) | b;
        more = (b & 0x80) !== 0;
      }
    }
    if (i >= buf.length) throw tlvError('length missing');
    const l0 = buf[i++] ?? 0;
    let len = l0;
    if (l0 === 0x80) throw tlvError('indefinite length');
    if (l0 > 0x80) {
      const nb = l0 & 0x7f;
      if (nb > 3) throw tlvError('length field longer than 3 bytes');
      if (i + nb > buf.length) throw tlvError('length truncated');
      len = 0;
      for (let k = 0; k < nb; k++) len = len * 256 + (buf[i++] ?? 0);
    }
    if (i + len > buf.length) throw tlvError('value runs past the end');
    out.push({ tag, value: Buffer.from(buf.subarray(i, i + len)), constructed: ((first >> 5) & 1) === 1 });
    i += len;
  }
  return out;
}

export function findTlv(tlvs: readonly Tlv[], tag: number): Tlv | undefined {
  return tlvs.find((t) => t.tag === tag);
}

/** The value of `tag`, which must be present and (if given) of an exact length. */
export function requireTlv(tlvs: readonly Tlv[], tag: number, length?: number): Buffer {
  const t = findTlv(tlvs, tag);
  if (!t) throw tlvError(`tag ${tag.toString(16).toUpperCase()} missing`);
  if (length !== undefined && t.value.length !== length)
    throw tlvError(`tag ${tag.toString(16).toUpperCase()} has length ${t.value.length}, expected ${length}`);
  return t.value;
}

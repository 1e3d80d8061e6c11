import { createHash } from 'node:crypto';
import { AppError } from '../errors';

// A sealed list envelope as text messages, for a channel without a desk reader (source 001
// [0022]): the envelope is already encrypted and MACed for one card and signed by the issuer, so
// the segments need no secrecy of their own — only a way to be put back together, in any order,
// with a lost, foreign or altered segment caught before anything reaches the card.
// Format (docs/remote-refill.md):
//
//   OTAC1 <id> <i>/<n> <payload>
//
// `id` is 6 Crockford base32 characters of SHA-256(envelope) (30 bits: names the package and
// checks the reassembled whole), `i` and `n` two decimal digits (1 ≤ i ≤ n ≤ 99), and `payload`
// base64url of at most SEGMENT_PAYLOAD_BYTES bytes of the envelope. Every character is in the
// GSM 03.38 default alphabet, so a segment is one 160-character SMS.

export const SMS_LENGTH = 160;
const PREFIX = 'OTAC1';
const HEADER_LENGTH = `${PREFIX} XXXXXX 00/00 `.length; // 19
/** 140 base64url characters carry exactly 105 bytes. */
export const SEGMENT_PAYLOAD_BYTES = (((SMS_LENGTH - HEADER_LENGTH) / 4) | 0) * 3;
export const MAX_SEGMENTS = 99;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SEGMENT = /^OTAC1 ([0-9A-HJKMNP-TV-Z]{6}) (\d{2})\/(\d{2}) ([A-Za-z0-9_-]{1,140})$/;

/** The package id of an envelope: the first 30 bits of its SHA-256, in Crockford base32. */
export function packageId(envelope: Buffer): string {
  const h = createHash('sha256').update(envelope).digest().readUInt32BE(0) >>> 2;
  let id = '';
  for (let shift = 25; shift >= 0; shift -= 5) id += CROCKFORD[(h >>> shift) & 31];
  return id;
}

/** The envelope as text segments, in order, each at most SMS_LENGTH characters. */
export function splitPackage(envelope: Buffer): string[] {
  if (envelope.length === 0) throw new AppError('PACKAGE_EMPTY', 'There is no list to send.');
  const count = Math.ceil(envelope.length / SEGMENT_PAYLOAD_BYTES);
  if (count > MAX_SEGMENTS) {
    throw new AppError(
      'PACKAGE_TOO_LARGE',
      `This list needs ${count} text messages; at most ${MAX_SEGMENTS} are allowed. Issue a shorter list for the remote channel.`,
    );
  }
  const id = packageId(envelope);
  const two = (n: number) => String(n).padStart(2, '0');
  return Array.from({ length: count }, (_, i) => {
    const payload = envelope.subarray(i * SEGMENT_PAYLOAD_BYTES, (i + 1) * SEGMENT_PAYLOAD_BYTES);
    return `${PREFIX} ${id} ${two(i + 1)}/${two(count)} ${payload.toString('base64url')}`;
  });
}

export interface ParsedSegment {
  readonly id: string;
  readonly index: number;
  readonly count: number;
  readonly payload: Buffer;
}

export function parseSegment(text: string): ParsedSegment {
  const m = SEGMENT.exec(text.trim());
  const [, id, i, n, payload] = m ?? [];
  if (!id || !i || !n || !payload) {
    throw new AppError(
      'PACKAGE_SEGMENT_MALFORMED',
      'This is not a segment of an OTAC list package. Check the message.',
    );
  }
  const index = Number(i);
  const count = Number(n);
  if (count < 1 || index < 1 || index > count) {
    throw new AppError('PACKAGE_SEGMENT_MALFORMED', `Segment ${i}/${n} is out of range. Check the message.`);
  }
  return { id, index, count, payload: Buffer.from(payload, 'base64url') };
}

export type AssemblyState =
  | { readonly complete: true; readonly envelope: Buffer }
  | { readonly complete: false; readonly missing: readonly number[] };

/**
 * Collects the segments of one package in any order. A repeated identical segment is ignored;
 * a segment of another package, a different text for an index already held, a count that
 * disagrees, or a whole that does not match its id is refused — and nothing is ever handed to
 * the card until every segment is in and the whole checks out.
 */
export class PackageAssembler {
  private id: string | undefined;
  private count = 0;
  private readonly parts = new Map<number, Buffer>();

  add(text: string): AssemblyState {
    const s = parseSegment(text);
    if (this.id === undefined) {
      this.id = s.id;
      this.count = s.count;
    } else if (s.id !== this.id) {
      throw new AppError(
        'PACKAGE_SEGMENT_FOREIGN',
        `Segment ${s.index}/${s.count} belongs to package ${s.id}, not ${this.id}. Keep the messages of one package together.`,
      );
    } else if (s.count !== this.count) {
      throw new AppError(
        'PACKAGE_SEGMENT_CONFLICT',
        `Segment ${s.index} says ${s.count} segments, others ${this.count}.`,
      );
    }
    const held = this.parts.get(s.index);
    if (held && !held.equals(s.payload)) {
      throw new AppError(
        'PACKAGE_SEGMENT_CONFLICT',
        `Two different messages claim to be segment ${s.index}/${s.count}. Ask the bank to send the package again.`,
      );
    }
    this.parts.set(s.index, s.payload);
    return this.state();
  }

  state(): AssemblyState {
    const missing: number[] = [];
    for (let i = 1; i <= this.count; i++) if (!this.parts.has(i)) missing.push(i);
    if (this.count === 0 || missing.length > 0) return { complete: false, missing: this.count === 0 ? [1] : missing };
    const envelope = Buffer.concat([...Array(this.count).keys()].map((i) => this.parts.get(i + 1)!));
    // Sizes too: every segment but the last is full, or the split was not ours.
    const short = [...this.parts].some(([i, p]) => i < this.count && p.length !== SEGMENT_PAYLOAD_BYTES);
    if (short || packageId(envelope) !== this.id) {
      throw new AppError(
        'PACKAGE_CORRUPT',
        'The messages do not add up to the package they name (one was altered or truncated). Ask the bank to send the package again.',
      );
    }
    return { complete: true, envelope };
  }
}

/** Reassembles a whole package from its segments, in any order; throws with what is missing. */
export function joinPackage(segments: readonly string[]): Buffer {
  const assembler = new PackageAssembler();
  let state: AssemblyState = { complete: false, missing: [1] };
  for (const text of segments) if (text.trim()) state = assembler.add(text);
  if (!state.complete) {
    throw new AppError(
      'PACKAGE_INCOMPLETE',
      `Segments ${state.missing.join(', ')} of the package are missing. Wait for them, or ask the bank to send the package again.`,
    );
  }
  return state.envelope;
}

import { CardError } from './card-error';

// Command and response APDUs of ISO/IEC 7816-3/-4: cases 1–4 in short and extended form,
// command chaining (CLA bit b5) and R-APDU parsing. Pure functions; no transport.

export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  /** Command data (Nc = length); absent or empty means no Lc field. */
  readonly data?: Buffer;
  /** Expected response length Ne: absent means no Le field; 256 (short) / 65536 (extended) = "all". */
  readonly ne?: number;
}

export interface ResponseApdu {
  readonly data: Buffer;
  readonly sw: number;
}

export type LengthForm = 'auto' | 'short' | 'extended';

export const SHORT_MAX_NC = 255;
export const SHORT_MAX_NE = 256;
export const EXTENDED_MAX_NC = 65535;
export const EXTENDED_MAX_NE = 65536;
/** CLA bit b5: "more commands of this chain follow" (ISO 7816-4 5.4.1, first interindustry class). */
export const CLA_CHAIN_BIT = 0x10;

function badApdu(message: string): CardError {
  return new CardError('CARD_APDU_INVALID', `${message} This is a software fault in the workstation; report it.`);
}

function checkByte(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw badApdu(`APDU ${name} must be a byte, got ${String(v)}.`);
}

/** Encodes a command APDU; 'auto' uses the short form whenever Nc ≤ 255 and Ne ≤ 256. */
export function encodeCommand(cmd: CommandApdu, form: LengthForm = 'auto'): Buffer {
  checkByte('CLA', cmd.cla);
  checkByte('INS', cmd.ins);
  checkByte('P1', cmd.p1);
  checkByte('P2', cmd.p2);
  const nc = cmd.data?.length ?? 0;
  const ne = cmd.ne;
  if (ne !== undefined && (!Number.isInteger(ne) || ne < 1 || ne > EXTENDED_MAX_NE)) {
    throw badApdu(`APDU Ne must be 1..65536, got ${String(ne)}.`);
  }
  if (nc > EXTENDED_MAX_NC) throw badApdu(`APDU data of ${nc} bytes exceeds 65535.`);
  const fitsShort = nc <= SHORT_MAX_NC && (ne === undefined || ne <= SHORT_MAX_NE);
  const extended = form === 'extended' || (form === 'auto' && !fitsShort);
  if (form === 'short' && !fitsShort)
    throw badApdu('APDU too long for the short form; use chaining or extended length.');
  const header = Buffer.from([cmd.cla, cmd.ins, cmd.p1, cmd.p2]);
  const parts: Buffer[] = [header];
  if (!extended) {
    if (nc > 0) parts.push(Buffer.from([nc]), cmd.data as Buffer);
    if (ne !== undefined) parts.push(Buffer.from([ne === SHORT_MAX_NE ? 0 : ne]));
    return Buffer.concat(parts);
  }
  const ext = (n: number, max: number): Buffer => Buffer.from([n === max ? 0 : (n >> 8) & 0xff, n & 0xff]);
  if (nc > 0) parts.push(Buffer.from([0]), ext(nc, -1), cmd.data as Buffer);
  if (ne !== undefined)
    parts.push(nc > 0 ? ext(ne, EXTENDED_MAX_NE) : Buffer.concat([Buffer.from([0]), ext(ne, EXTENDED_MAX_NE)]));
  if (nc === 0 && ne === undefined) return header; // case 1 has no extended form
  return Buffer.concat(parts);
}

/** The decoded command plus whether it used the extended length form. */
export interface DecodedCommand extends CommandApdu {
  readonly data: Buffer;
  readonly extended: boolean;
}

/**
 * Decodes a command APDU (ISO 7816-3 12.1.3 case analysis). Throws CardError
 * 'CARD_APDU_MALFORMED' for any byte string that is not exactly one valid APDU.
 */
export function decodeCommand(apdu: Buffer): DecodedCommand {
  const fail = (why: string): CardError => new CardError('CARD_APDU_MALFORMED', `Malformed command APDU: ${why}.`);
  if (apdu.length < 4) throw fail('shorter than the 4-byte header');
  const [cla, ins, p1, p2] = [apdu[0] ?? 0, apdu[1] ?? 0, apdu[2] ?? 0, apdu[3] ?? 0];
  const body = apdu.subarray(4);
  const L = body.length;
  const base = { cla, ins, p1, p2 };
  const empty = Buffer.alloc(0);
  if (L === 0) return { ...base, data: empty, extended: false };
  const b1 = body[0] ?? 0;
  if (L === 1) return { ...base, data: empty, ne: b1 === 0 ? SHORT_MAX_NE : b1, extended: false };
  if (b1 !== 0) {
    if (L === 1 + b1) return { ...base, data: Buffer.from(body.subarray(1)), extended: false };
    if (L === 2 + b1) {
      const le = body[L - 1] ?? 0;
      return {
        ...base,
        data: Buffer.from(body.subarray(1, 1 + b1)),
        ne: le === 0 ? SHORT_MAX_NE : le,
        extended: false,
      };
    }
    throw fail('short Lc does not match the body length');
  }
  if (L < 3) throw fail('extended length field truncated');
  const b23 = ((body[1] ?? 0) << 8) | (body[2] ?? 0);
  if (L === 3) return { ...base, data: empty, ne: b23 === 0 ? EXTENDED_MAX_NE : b23, extended: true };
  if (b23 === 0) throw fail('extended Lc of zero');
  if (L === 3 + b23) return { ...base, data: Buffer.from(body.subarray(3)), extended: true };
  if (L === 5 + b23) {
    const le = ((body[L - 2] ?? 0) << 8) | (body[L - 1] ?? 0);
    return {
      ...base,
      data: Buffer.from(body.subarray(3, 3 + b23)),
      ne: le === 0 ? EXTENDED_MAX_NE : le,
      extended: true,
    };
  }
  throw fail('extended Lc does not match the body length');
}

/**
 * Splits a command into an ISO 7816-4 command chain of pieces of at most `maxChunk` data bytes:
 * every piece but the last has CLA b5 set and no Le; the last carries the original Le.
 */
export function chainCommand(cmd: CommandApdu, maxChunk: number = SHORT_MAX_NC): CommandApdu[] {
  if (!Number.isInteger(maxChunk) || maxChunk < 1)
    throw badApdu(`Chunk size must be at least 1, got ${String(maxChunk)}.`);
  if ((cmd.cla & CLA_CHAIN_BIT) !== 0) throw badApdu('Command is already part of a chain.');
  const data = cmd.data ?? Buffer.alloc(0);
  if (data.length <= maxChunk) return [cmd];
  const out: CommandApdu[] = [];
  for (let off = 0; off < data.length; off += maxChunk) {
    const last = off + maxChunk >= data.length;
    const piece = data.subarray(off, Math.min(off + maxChunk, data.length));
    out.push(
      last
        ? { ...cmd, data: piece }
        : { cla: cmd.cla | CLA_CHAIN_BIT, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data: piece },
    );
  }
  return out;
}

/** Splits data || SW1 SW2. A response shorter than 2 bytes (a card that died mid-APDU) is a typed error. */
export function parseResponse(raw: Buffer): ResponseApdu {
  if (!Buffer.isBuffer(raw) || raw.length < 2) {
    throw new CardError(
      'CARD_RESPONSE_TOO_SHORT',
      `The card returned ${Buffer.isBuffer(raw) ? raw.length : 0} bytes instead of a status word: it was probably removed or lost power. Re-insert the card and retry.`,
    );
  }
  const n = raw.length;
  return { data: Buffer.from(raw.subarray(0, n - 2)), sw: ((raw[n - 2] ?? 0) << 8) | (raw[n - 1] ?? 0) };
}

/** Builds data || SW1 SW2 (used by the card side). */
export function encodeResponse(data: Buffer, sw: number): Buffer {
  return Buffer.concat([data, Buffer.from([(sw >> 8) & 0xff, sw & 0xff])]);
}

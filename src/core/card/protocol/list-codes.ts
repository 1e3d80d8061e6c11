import { createHash } from 'node:crypto';
import { hotp, HOTP_MAX_DIGITS, HOTP_MIN_DIGITS } from '../../crypto/hotp';
import type { CounterKdfInput } from '../../crypto/sp800-108';
import { CardError } from '../card-error';
import type { ListBody } from './list-format';
import { CARD_ID_LENGTH, MAX_LIST_ENTRIES } from './profile.constants';

// The codes of a list (issue 9 item 5): code i = RFC 4226 HOTP(list secret, i), i = 1..length,
// zero-padded to `digits`. The list secret is derived from the master key, so only the keystore
// can run this with a real secret; the function is pure so the keystore, the raw test port and
// the RFC 4226 appendix D vectors all check the same code.

/** What a list is, without its codes: the keystore draws them. */
export interface CodeListSpec {
  readonly cardId: Buffer;
  readonly listSeq: number;
  /** 16 random bytes the issuer's database stores; it names the list and salts its secret. */
  readonly listId: Buffer;
  /** Number of codes, indexes 1..length. */
  readonly length: number;
  /** 6–10 (policy `codeDigits`). */
  readonly digits: number;
  /** Seconds since 1970 UTC. */
  readonly expiry: number;
  /** Low-codes threshold the card raises its flag at (policy `refillThreshold`). */
  readonly threshold: number;
}

/** List secrets are 160 bits, RFC 4226's recommended length (section 4, R6). */
export const LIST_SECRET_BITS = 160;

/**
 * KDF input of a list secret under the master key (profile KDF of docs/card-profile.md 1.2, 160
 * bits): label "OTAC list secret", context = list id ‖ card id ‖ [list seq]32 ‖ SHA-256(sealed for).
 * `sealedFor` names the only key the list may be sealed under (`card:<N>` or `rsa:<SHA-256 of the
 * SPKI>`), so the same list id sealed for another key has other codes (docs/keystore.md, "Code lists").
 */
export function listSecretKdfInput(
  spec: Pick<CodeListSpec, 'cardId' | 'listSeq' | 'listId'>,
  sealedFor: string,
): CounterKdfInput {
  const seq = Buffer.alloc(4);
  seq.writeUInt32BE(spec.listSeq);
  const context = Buffer.concat([
    spec.listId,
    spec.cardId,
    seq,
    createHash('sha256').update(sealedFor, 'utf8').digest(),
  ]);
  return {
    counterBits: 32,
    lengthBits: LIST_SECRET_BITS,
    after: Buffer.concat([Buffer.from('OTAC list secret', 'ascii'), Buffer.from([0]), context, u32(LIST_SECRET_BITS)]),
  };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function checkCodeListSpec(spec: CodeListSpec): void {
  const bad = (why: string) =>
    new CardError('CARD_LIST_MALFORMED', `The code list request is invalid (${why}). Check the list policy and retry.`);
  if (!Buffer.isBuffer(spec?.cardId) || spec.cardId.length !== CARD_ID_LENGTH) throw bad('card id is 8 bytes');
  if (!Buffer.isBuffer(spec.listId) || spec.listId.length !== 16) throw bad('list id is 16 bytes');
  if (!Number.isInteger(spec.listSeq) || spec.listSeq < 1 || spec.listSeq > 0xffffffff) throw bad('list seq');
  if (!Number.isInteger(spec.length) || spec.length < 1 || spec.length > MAX_LIST_ENTRIES) throw bad('length');
  if (!Number.isInteger(spec.digits) || spec.digits < HOTP_MIN_DIGITS || spec.digits > HOTP_MAX_DIGITS)
    throw bad(`digits ${HOTP_MIN_DIGITS}..${HOTP_MAX_DIGITS}`);
  if (!Number.isInteger(spec.expiry) || spec.expiry < 0 || spec.expiry > 0xffffffff) throw bad('expiry');
  if (!Number.isInteger(spec.threshold) || spec.threshold < 0 || spec.threshold > 0xffff) throw bad('threshold');
}

/** The list body (profile 7.2) with code i = HOTP(secret, i) for i = 1..length. */
export function buildCodeListBody(secret: Uint8Array, spec: CodeListSpec): ListBody {
  checkCodeListSpec(spec);
  return {
    cardId: spec.cardId,
    listSeq: spec.listSeq,
    listId: spec.listId,
    expiry: spec.expiry,
    threshold: spec.threshold,
    codeLength: spec.digits,
    entries: Array.from({ length: spec.length }, (_, i) => ({ index: i + 1, code: hotp(secret, i + 1, spec.digits) })),
  };
}

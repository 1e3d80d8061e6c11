import type { CounterKdfInput } from '../crypto/sp800-108';
import { AppError } from '../errors';

// K = KDF(MK, N, SN): NIST SP 800-108 counter mode, PRF AES-CMAC under MK (AES-256), L = 128:
//   [i]_32 || "OTAC card key" || 0x00 || [len(N)]_8 || N (ASCII) || [SN]_32 || [L]_32
// (docs/keystore.md, "Card key derivation"). N is length-prefixed so no two (N, SN) pairs
// share an input.

export const CARD_KEY_LABEL = 'OTAC card key';
const N_PATTERN = /^[0-9A-Za-z-]{1,64}$/;

export function assertCardN(n: string): void {
  if (!N_PATTERN.test(n)) {
    throw new AppError(
      'CARD_N_INVALID',
      'The card identification code N must be 1–64 letters, digits or dashes. Check the card record.',
    );
  }
}

export function cardKeyKdfInput(n: string, sn: number): CounterKdfInput {
  assertCardN(n);
  if (!Number.isInteger(sn) || sn < 1 || sn > 0xffffffff) throw new RangeError('series number out of range');
  const nBytes = Buffer.from(n, 'ascii');
  const snBytes = Buffer.alloc(4);
  snBytes.writeUInt32BE(sn);
  const L = Buffer.from([0, 0, 0, 128]);
  return {
    counterBits: 32,
    lengthBits: 128,
    after: Buffer.concat([Buffer.from(CARD_KEY_LABEL, 'ascii'), Buffer.from([0, nBytes.length]), nBytes, snBytes, L]),
  };
}

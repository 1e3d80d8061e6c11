import { aesCmac } from './aes-cmac';

// NIST SP 800-108 key derivation in counter mode with AES-CMAC as the PRF.
// The general form puts the counter between two fixed parts so that every layout
// in use is covered: NIST CAVP "before/middle/after fixed data" and GlobalPlatform SCP03
// (label || 00 || L || i || context).

export interface CounterKdfInput {
  /** Fixed input data placed before the counter. */
  readonly before?: Uint8Array;
  /** Fixed input data placed after the counter. */
  readonly after?: Uint8Array;
  /** Width of the counter [i]_r in bits: 8, 16, 24 or 32. */
  readonly counterBits?: 8 | 16 | 24 | 32;
  /** Output length in bits (a multiple of 8). */
  readonly lengthBits: number;
}

export function kdfCounterCmac(key: Uint8Array, input: CounterKdfInput): Buffer {
  return kdfCounter((message) => aesCmac(key, message), input);
}

/**
 * The same KDF over any 128-bit-output PRF: lets a PKCS#11 backend run it with the key
 * inside the token (C_Sign with CKM_AES_CMAC) when the token has no SP 800-108 mechanism.
 */
export function kdfCounter(prf: (message: Buffer) => Buffer, input: CounterKdfInput): Buffer {
  const r = input.counterBits ?? 32;
  const L = input.lengthBits;
  if (L <= 0 || L % 8 !== 0) throw new RangeError('output length must be a positive multiple of 8 bits');
  const blocks = Math.ceil(L / 128);
  if (blocks >= 2 ** r) throw new RangeError('output too long for the counter width');
  const before = input.before ?? new Uint8Array(0);
  const after = input.after ?? new Uint8Array(0);
  const parts: Buffer[] = [];
  for (let i = 1; i <= blocks; i++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(i);
    parts.push(prf(Buffer.concat([before, counter.subarray(4 - r / 8), after])));
  }
  return Buffer.concat(parts).subarray(0, L / 8);
}

/**
 * The project's documented layout: [i]_32 || label || 0x00 || context || [L]_32.
 * Label names the purpose (ASCII), context binds the key to its user (e.g. card N and SN).
 */
export function deriveKey(key: Uint8Array, label: string, context: Uint8Array, lengthBits: number): Buffer {
  const L = Buffer.alloc(4);
  L.writeUInt32BE(lengthBits);
  return kdfCounterCmac(key, {
    counterBits: 32,
    lengthBits,
    after: Buffer.concat([Buffer.from(label, 'ascii'), Buffer.from([0]), context, L]),
  });
}

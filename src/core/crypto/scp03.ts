import { kdfCounterCmac, type CounterKdfInput } from './sp800-108';

// GlobalPlatform SCP03 (Amendment D) session key derivation: SP 800-108 counter mode with
// AES-CMAC, fixed data = label (11 × 0x00 || constant) || 0x00 || [L]_16 || [i]_8 || context.

export const SCP03_S_ENC = 0x04;
export const SCP03_S_MAC = 0x06;
export const SCP03_S_RMAC = 0x07;

/** The SP 800-108 input for one SCP03 key; `context` is used exactly as given. */
export function scp03KdfInput(constant: number, context: Uint8Array, lengthBits = 128): CounterKdfInput {
  const label = Buffer.alloc(15);
  label[11] = constant;
  label[12] = 0x00; // separation indicator
  label.writeUInt16BE(lengthBits, 13);
  return { before: label, after: context, counterBits: 8, lengthBits };
}

/**
 * Derive one SCP03 key. For a secure channel `context` is host challenge || card challenge
 * (8 + 8 bytes in S8 mode).
 */
export function deriveScp03Key(key: Uint8Array, constant: number, context: Uint8Array, lengthBits = 128): Buffer {
  return kdfCounterCmac(key, scp03KdfInput(constant, context, lengthBits));
}

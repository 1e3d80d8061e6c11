import { kdfCounterCmac } from './sp800-108';

// GlobalPlatform SCP03 (Amendment D) session key derivation: SP 800-108 counter mode with
// AES-CMAC, fixed data = label (11 × 0x00 || constant) || 0x00 || [L]_16 || [i]_8 || context.

export const SCP03_S_ENC = 0x04;
export const SCP03_S_MAC = 0x06;
export const SCP03_S_RMAC = 0x07;

/**
 * Derive one SCP03 key. `context` is used exactly as given; for a secure channel it is
 * host challenge || card challenge (8 + 8 bytes in S8 mode).
 */
export function deriveScp03Key(key: Uint8Array, constant: number, context: Uint8Array, lengthBits = 128): Buffer {
  const before = Buffer.alloc(16);
  before[11] = constant;
  before[12] = 0x00;
  before.writeUInt16BE(lengthBits, 13);
  return kdfCounterCmac(key, {
    before: before.subarray(0, 15),
    after: context,
    counterBits: 8,
    lengthBits,
  });
}

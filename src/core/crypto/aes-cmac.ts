import { createCipheriv } from 'node:crypto';

// AES-CMAC (RFC 4493 / NIST SP 800-38B) over node:crypto, which has no CMAC of its own.
// Works for AES-128/192/256 keys. Checked against RFC 4493 in test/unit/crypto.

const BLOCK = 16;
const RB = 0x87;

function cipherName(key: Uint8Array): string {
  switch (key.length) {
    case 16:
      return 'aes-128-ecb';
    case 24:
      return 'aes-192-ecb';
    case 32:
      return 'aes-256-ecb';
    default:
      throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

function encryptBlock(key: Uint8Array, block: Uint8Array): Buffer {
  const c = createCipheriv(cipherName(key), key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function shiftLeft(input: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    const next = i + 1 < BLOCK ? (input[i + 1] ?? 0) : 0;
    out[i] = (((input[i] ?? 0) << 1) | (next >>> 7)) & 0xff;
  }
  return out;
}

function subkey(prev: Buffer): Buffer {
  const k = shiftLeft(prev);
  if (((prev[0] ?? 0) & 0x80) !== 0) k[BLOCK - 1] = (k[BLOCK - 1] ?? 0) ^ RB;
  return k;
}

/** The two CMAC subkeys K1, K2 of RFC 4493 section 2.3. */
export function cmacSubkeys(key: Uint8Array): { k1: Buffer; k2: Buffer } {
  const l = encryptBlock(key, Buffer.alloc(BLOCK));
  const k1 = subkey(l);
  return { k1, k2: subkey(k1) };
}

/** Full 16-byte AES-CMAC tag of `message` under `key`. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  const { k1, k2 } = cmacSubkeys(key);
  const n = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  const last = Buffer.alloc(BLOCK);
  const tail = message.subarray((n - 1) * BLOCK);
  if (complete) {
    for (let i = 0; i < BLOCK; i++) last[i] = (tail[i] ?? 0) ^ (k1[i] ?? 0);
  } else {
    const padded = Buffer.alloc(BLOCK);
    Buffer.from(tail).copy(padded);
    padded[tail.length] = 0x80;
    for (let i = 0; i < BLOCK; i++) last[i] = (padded[i] ?? 0) ^ (k2[i] ?? 0);
  }
  // CBC-MAC of all blocks: one CBC pass with a zero IV, keep the last block.
  const body = Buffer.concat([message.subarray(0, (n - 1) * BLOCK), last]);
  const c = createCipheriv(cipherName(key).replace('ecb', 'cbc'), key, Buffer.alloc(BLOCK));
  c.setAutoPadding(false);
  const out = Buffer.concat([c.update(body), c.final()]);
  return out.subarray(out.length - BLOCK);
}

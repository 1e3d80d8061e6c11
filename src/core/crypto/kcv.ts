import { createCipheriv } from 'node:crypto';

// Key check values: a short, non-secret fingerprint that lets people confirm a key
// (or a component) without ever seeing it. Returned as 6 upper-case hex digits.

/** GlobalPlatform AES KCV: first 3 bytes of AES-ECB(K, 16 × 0x01). */
export function kcvAes(key: Uint8Array): string {
  const name = { 16: 'aes-128-ecb', 24: 'aes-192-ecb', 32: 'aes-256-ecb' }[key.length];
  if (!name) throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  return kcvFromBlock(encrypt(name, key, Buffer.alloc(16, 0x01)));
}

/**
 * Legacy DES / 3DES KCV: first 3 bytes of DES(K, 8 × 0x00). OpenSSL 3 puts single DES in
 * the legacy provider, so an 8-byte key runs as des-ede3 with K||K||K, which is the same function.
 */
export function kcvDes(key: Uint8Array): string {
  const k = Buffer.from(key);
  let full: Buffer;
  if (k.length === 8) full = Buffer.concat([k, k, k]);
  else if (k.length === 16) full = Buffer.concat([k, k.subarray(0, 8)]);
  else if (k.length === 24) full = k;
  else throw new RangeError(`DES key must be 8, 16 or 24 bytes, got ${key.length}`);
  return kcvFromBlock(encrypt('des-ede3-ecb', full, Buffer.alloc(8)));
}

/** The first 3 bytes of an encrypted check block, as 6 upper-case hex digits. */
export function kcvFromBlock(block: Uint8Array): string {
  return Buffer.from(block.subarray(0, 3)).toString('hex').toUpperCase();
}

/** XOR of equally long key components (form-key-from-components). */
export function xorComponents(components: readonly Uint8Array[]): Buffer {
  const first = components[0];
  if (!first) throw new RangeError('at least one component is needed');
  const out = Buffer.alloc(first.length);
  for (const c of components) {
    if (c.length !== first.length) throw new RangeError('components must all have the same length');
    for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) ^ (c[i] ?? 0);
  }
  return out;
}

function encrypt(name: string, key: Uint8Array, block: Buffer): Buffer {
  const c = createCipheriv(name, key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

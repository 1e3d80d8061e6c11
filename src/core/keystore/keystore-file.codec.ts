import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors';
import type { KekParams, KekProvider } from './kek-provider';

// Keystore file, format 1 (docs/keystore.md):
//   "OTACKS" 00 01 | u32 BE header length | header JSON | AES-256-GCM ciphertext | 16-byte tag
// header = { kek: provider params, verifier, iv, payloadLength }. Everything before the
// ciphertext is the GCM additional data, so any change to it or to the body fails the tag.
// The verifier (HMAC of a fixed label under the KEK) tells a wrong passphrase from tampering.

const MAGIC = Buffer.from('OTACKS\x00\x01', 'latin1');
const MAGIC_FAMILY = MAGIC.subarray(0, 6);
const TAG = 16;

const headerSchema = z.object({
  kek: z.record(z.string(), z.union([z.string(), z.number()])),
  verifier: z.string(),
  iv: z.string(),
  payloadLength: z.number().int().nonnegative(),
});

export function kekVerifier(kek: Buffer): Buffer {
  return createHmac('sha256', kek).update('otac-keystore-kek-verifier').digest().subarray(0, 16);
}

function fileKey(kek: Buffer): Buffer {
  return createHmac('sha256', kek).update('otac-keystore-file-key').digest();
}

export function encodeKeystoreFile(payload: Buffer, kek: Buffer, kekParams: KekParams): Buffer {
  const iv = randomBytes(12);
  const header = Buffer.from(
    JSON.stringify({
      kek: kekParams,
      verifier: kekVerifier(kek).toString('base64'),
      iv: iv.toString('base64'),
      payloadLength: payload.length,
    }),
    'utf8',
  );
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  const aad = Buffer.concat([MAGIC, len, header]);
  const c = createCipheriv('aes-256-gcm', fileKey(kek), iv);
  c.setAAD(aad);
  const body = Buffer.concat([c.update(payload), c.final()]);
  return Buffer.concat([aad, body, c.getAuthTag()]);
}

export interface DecodedKeystoreFile {
  readonly payload: Buffer;
  readonly kek: Buffer;
  readonly kekParams: KekParams;
}

/** Throws AppError KEYSTORE_FOREIGN / _VERSION / _TRUNCATED / _TAMPERED / _WRONG_PASSPHRASE. */
export async function decodeKeystoreFile(
  data: Buffer,
  provider: KekProvider,
  what = 'keystore file',
): Promise<DecodedKeystoreFile> {
  const prefix = Math.min(data.length, MAGIC_FAMILY.length);
  if (!data.subarray(0, prefix).equals(MAGIC_FAMILY.subarray(0, prefix))) {
    throw new AppError(
      'KEYSTORE_FOREIGN',
      `The ${what} is not an OTAC keystore. Choose the right file; nothing was changed.`,
    );
  }
  if (data.length < MAGIC.length + 4) throw truncated(what);
  if (!data.subarray(0, 8).equals(MAGIC)) {
    throw new AppError(
      'KEYSTORE_VERSION',
      `The ${what} was written by a newer workstation. Update the workstation; nothing was changed.`,
    );
  }
  const headerLength = data.readUInt32BE(8);
  const headerEnd = 12 + headerLength;
  if (data.length < headerEnd) throw truncated(what);
  let header: z.infer<typeof headerSchema>;
  try {
    header = headerSchema.parse(JSON.parse(data.subarray(12, headerEnd).toString('utf8')));
  } catch {
    throw tampered(what);
  }
  const expected = headerEnd + header.payloadLength + TAG;
  if (data.length < expected) throw truncated(what);
  if (data.length > expected) throw tampered(what);
  const kek = await provider.open(header.kek);
  const verifier = Buffer.from(header.verifier, 'base64');
  const mine = kekVerifier(kek);
  if (verifier.length !== mine.length || !timingSafeEqual(verifier, mine)) {
    throw new AppError(
      'KEYSTORE_WRONG_PASSPHRASE',
      `The passphrase does not open the ${what}. Check it and try again; nothing was changed.`,
    );
  }
  try {
    const d = createDecipheriv('aes-256-gcm', fileKey(kek), Buffer.from(header.iv, 'base64'));
    d.setAAD(data.subarray(0, headerEnd));
    d.setAuthTag(data.subarray(data.length - TAG));
    const payload = Buffer.concat([d.update(data.subarray(headerEnd, data.length - TAG)), d.final()]);
    return { payload, kek, kekParams: header.kek };
  } catch {
    throw tampered(what);
  }
}

function truncated(what: string): AppError {
  return new AppError(
    'KEYSTORE_TRUNCATED',
    `The ${what} is incomplete (cut short). Restore the keystore from a backup; nothing was changed.`,
  );
}

function tampered(what: string): AppError {
  return new AppError(
    'KEYSTORE_TAMPERED',
    `The ${what} has been altered or damaged and fails its integrity check. Restore the keystore from a backup; nothing was changed.`,
  );
}

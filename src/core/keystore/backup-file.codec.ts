import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors';
import type { KekProvider } from './kek-provider';

// Keystore backup file, format 2 (docs/keystore.md): split knowledge between two custodians.
//   "OTACBK" 00 02 | u32 BE header length | header JSON | AES-256-GCM ciphertext | 16-byte tag
// header = { id, custodians: [{ name, kek, iv, share }, { … }], iv, payloadLength }
// The body is encrypted under a fresh random data key D = S1 XOR S2. Share Si is sealed with
// AES-256-GCM under a key from custodian i's own passphrase (scrypt), its additional data binding
// it to this file's id, its slot and its custodian's name. One passphrase yields one random share,
// which says nothing about D. Everything before the ciphertext is the body's additional data.

const MAGIC = Buffer.from('OTACBK\x00\x02', 'latin1');
const MAGIC_FAMILY = MAGIC.subarray(0, 6);
/** Format 1 backups were keystore files (one passphrase opens them); they are refused, not opened. */
const KEYSTORE_MAGIC = Buffer.from('OTACKS', 'latin1');
const TAG = 16;
const KEY = 32;

export interface BackupCustodianKek {
  /** The operator's user name, recorded in the header; never a secret. */
  readonly name: string;
  readonly kek: KekProvider;
}

const custodianSchema = z.object({
  name: z.string().min(1).max(64),
  kek: z.record(z.string(), z.union([z.string(), z.number()])),
  iv: z.string(),
  share: z.string(),
});

const headerSchema = z.object({
  id: z.string().min(1).max(64),
  custodians: z.tuple([custodianSchema, custodianSchema]),
  iv: z.string(),
  payloadLength: z.number().int().nonnegative(),
});
type Header = z.infer<typeof headerSchema>;

const shareKey = (kek: Buffer) => createHmac('sha256', kek).update('otac-backup-share-key').digest();
const shareAad = (id: string, slot: number, name: string) =>
  Buffer.from(JSON.stringify(['otac-backup-share', id, slot, name]), 'utf8');

export async function encodeBackupFile(
  payload: Buffer,
  custodians: readonly [BackupCustodianKek, BackupCustodianKek],
): Promise<Buffer> {
  if (custodians[0].name.toLowerCase() === custodians[1].name.toLowerCase()) throw sameCustodian();
  const id = randomBytes(16).toString('base64');
  const dataKey = randomBytes(KEY);
  const first = randomBytes(KEY);
  const second = xor(dataKey, first);
  try {
    const sealed = await Promise.all(
      custodians.map(async (c, slot) => {
        const { kek, params } = await c.kek.create();
        const iv = randomBytes(12);
        const gcm = createCipheriv('aes-256-gcm', shareKey(kek), iv);
        gcm.setAAD(shareAad(id, slot + 1, c.name));
        const share = Buffer.concat([gcm.update(slot === 0 ? first : second), gcm.final(), gcm.getAuthTag()]);
        kek.fill(0);
        return { name: c.name, kek: params, iv: iv.toString('base64'), share: share.toString('base64') };
      }),
    );
    const iv = randomBytes(12);
    const header: Header = {
      id,
      custodians: [sealed[0]!, sealed[1]!],
      iv: iv.toString('base64'),
      payloadLength: payload.length,
    };
    const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(headerBytes.length);
    const aad = Buffer.concat([MAGIC, len, headerBytes]);
    const gcm = createCipheriv('aes-256-gcm', dataKey, iv);
    gcm.setAAD(aad);
    const body = Buffer.concat([gcm.update(payload), gcm.final()]);
    return Buffer.concat([aad, body, gcm.getAuthTag()]);
  } finally {
    for (const b of [dataKey, first, second]) b.fill(0);
  }
}

/** The two custodians' names, from the header alone (no passphrase): for the list and the restore form. */
export function readBackupCustodians(data: Buffer): [string, string] {
  const { header } = parse(data);
  return [header.custodians[0].name, header.custodians[1].name];
}

/**
 * Opens a backup with both custodians' KEK providers, in the file's slot order. Throws AppError
 * KEYSTORE_FOREIGN / _VERSION / _TRUNCATED / _TAMPERED, or KEYSTORE_WRONG_PASSPHRASE naming the
 * custodian whose share did not open.
 */
export async function decodeBackupFile(data: Buffer, keks: readonly [KekProvider, KekProvider]): Promise<Buffer> {
  const { header, headerEnd } = parse(data);
  const shares: Buffer[] = [];
  // Both scrypt derivations at once: on the thread pool they cost the time of one.
  const kekBytes = await Promise.all(header.custodians.map((c, i) => keks[i]!.open(c.kek)));
  try {
    for (const [i, c] of header.custodians.entries()) {
      const kek = kekBytes[i]!;
      const sealed = Buffer.from(c.share, 'base64');
      try {
        if (sealed.length !== KEY + TAG) throw new Error('share length');
        const gcm = createDecipheriv('aes-256-gcm', shareKey(kek), Buffer.from(c.iv, 'base64'));
        gcm.setAAD(shareAad(header.id, i + 1, c.name));
        gcm.setAuthTag(sealed.subarray(KEY));
        shares.push(Buffer.concat([gcm.update(sealed.subarray(0, KEY)), gcm.final()]));
      } catch {
        throw new AppError(
          'KEYSTORE_WRONG_PASSPHRASE',
          `The passphrase typed for custodian ${c.name} does not open their share of the backup. ${c.name} types their own backup passphrase; nothing was changed.`,
        );
      } finally {
        kek.fill(0);
      }
    }
    const dataKey = xor(shares[0]!, shares[1]!);
    try {
      const gcm = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(header.iv, 'base64'));
      gcm.setAAD(data.subarray(0, headerEnd));
      gcm.setAuthTag(data.subarray(data.length - TAG));
      return Buffer.concat([gcm.update(data.subarray(headerEnd, data.length - TAG)), gcm.final()]);
    } catch {
      throw tampered();
    } finally {
      dataKey.fill(0);
    }
  } finally {
    for (const b of [...shares, ...kekBytes]) b.fill(0);
  }
}

function parse(data: Buffer): { header: Header; headerEnd: number } {
  const prefix = Math.min(data.length, MAGIC_FAMILY.length);
  if (data.length >= KEYSTORE_MAGIC.length && data.subarray(0, KEYSTORE_MAGIC.length).equals(KEYSTORE_MAGIC)) {
    throw new AppError(
      'KEYSTORE_BACKUP_FORMAT',
      'This backup was made before backups needed two custodians: one passphrase opens it, so it is no longer restored. Make a new backup with two custodians and destroy this one.',
    );
  }
  if (!data.subarray(0, prefix).equals(MAGIC_FAMILY.subarray(0, prefix))) {
    throw new AppError(
      'KEYSTORE_FOREIGN',
      'The file is not an OTAC keystore backup. Choose the right file; nothing was changed.',
    );
  }
  if (data.length < MAGIC.length + 4) throw truncated();
  if (!data.subarray(0, 8).equals(MAGIC)) {
    throw new AppError(
      'KEYSTORE_VERSION',
      'The backup was written by a newer workstation. Update the workstation; nothing was changed.',
    );
  }
  const headerEnd = 12 + data.readUInt32BE(8);
  if (data.length < headerEnd) throw truncated();
  let header: Header;
  try {
    header = headerSchema.parse(JSON.parse(data.subarray(12, headerEnd).toString('utf8')));
  } catch {
    throw tampered();
  }
  const expected = headerEnd + header.payloadLength + TAG;
  if (data.length < expected) throw truncated();
  if (data.length > expected) throw tampered();
  return { header, headerEnd };
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

export function sameCustodian(): AppError {
  return new AppError(
    'KEYSTORE_BACKUP_ONE_CUSTODIAN',
    'A backup needs two different custodians, each with a passphrase of their own. Ask a second security officer; nothing was written.',
  );
}

function truncated(): AppError {
  return new AppError(
    'KEYSTORE_TRUNCATED',
    'The backup is incomplete (cut short). Choose another backup; nothing was changed.',
  );
}

function tampered(): AppError {
  return new AppError(
    'KEYSTORE_TAMPERED',
    'The backup has been altered or damaged and fails its integrity check. Choose another backup; nothing was changed.',
  );
}

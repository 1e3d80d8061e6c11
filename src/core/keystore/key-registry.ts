import { createHash } from 'node:crypto';
import { z } from 'zod';
import { kcvFromBlock } from '../crypto/kcv';
import { AppError } from '../errors';
import type { KeystoreBackend } from './keystore-backend';
import type { KeyInfo, StoredKeyPurpose } from './keystore.types';

// The list of stored keys (master keys, S, the bank CA, the audit key) and their metadata, kept by the
// backend next to the keys themselves: inside the encrypted file, or as a private data object
// on the token. Holds references and public material only.

const recordSchema = z.object({
  id: z.string(),
  purpose: z.enum(['master', 'issuer-signing', 'bank-ca', 'audit', 'transport']),
  version: z.number().int().positive(),
  state: z.enum(['active', 'superseded', 'retired']),
  createdAt: z.string(),
  kcv: z.string(),
  algorithm: z.enum(['AES-256', 'AES-128', 'EC-P256']),
  origin: z.enum(['generated', 'components', 'imported']),
  publicKey: z.string().optional(),
  certificate: z.string().optional(),
});
const metadataSchema = z.object({ format: z.literal(1), keys: z.array(recordSchema) });

export type KeyRecord = z.infer<typeof recordSchema>;

export class KeyRegistry {
  private records: KeyRecord[] = [];

  constructor(
    private readonly backend: KeystoreBackend,
    private readonly now: () => Date,
  ) {}

  load(metadata: string | undefined): void {
    if (metadata === undefined) {
      this.records = [];
      return;
    }
    const parsed = metadataSchema.safeParse(JSON.parse(metadata));
    if (!parsed.success)
      throw new AppError(
        'KEYSTORE_TAMPERED',
        'The keystore key list is not in the expected form. Restore the keystore from a backup.',
      );
    this.records = parsed.data.keys;
  }

  serialise(): string {
    return JSON.stringify({ format: 1, keys: this.records });
  }

  async commit(): Promise<void> {
    await this.backend.commit(this.serialise());
  }

  active(purpose: StoredKeyPurpose): KeyRecord | undefined {
    return this.records.find((r) => r.purpose === purpose && r.state === 'active');
  }

  byVersion(purpose: StoredKeyPurpose, version: number): KeyRecord | undefined {
    return this.records.find((r) => r.purpose === purpose && r.version === version);
  }

  /** Adds a new active key of `purpose`; the previous active one becomes `previousState`. */
  add(record: Omit<KeyRecord, 'version' | 'state' | 'createdAt'>, previousState: 'superseded' | 'retired'): KeyRecord {
    const version = Math.max(0, ...this.records.filter((r) => r.purpose === record.purpose).map((r) => r.version)) + 1;
    this.records = this.records.map((r) =>
      r.purpose === record.purpose && r.state === 'active' ? { ...r, state: previousState } : r,
    );
    const full: KeyRecord = { ...record, version, state: 'active', createdAt: this.now().toISOString() };
    this.records.push(full);
    return full;
  }

  /** The active key of `purpose` becomes retired (a removed transport key); answers it, or undefined. */
  retireActive(purpose: StoredKeyPurpose): KeyRecord | undefined {
    const current = this.active(purpose);
    if (!current) return undefined;
    this.records = this.records.map((r) => (r === current ? { ...r, state: 'retired' } : r));
    return current;
  }

  /** The keys the Keys contract can show; the transport master key waits for it (keystore.types.ts). */
  list(): KeyInfo[] {
    return this.records.filter(isListed).map(toInfo);
  }
}

type ListedRecord = KeyRecord & Pick<KeyInfo, 'purpose' | 'algorithm' | 'origin'>;

function isListed(r: KeyRecord): r is ListedRecord {
  return r.purpose !== 'transport' && r.algorithm !== 'AES-128' && r.origin !== 'imported';
}

export function toInfo(r: KeyRecord): KeyInfo {
  if (!isListed(r))
    throw new AppError('KEY_NOT_LISTED', 'This key is not shown in the key list. Check it by its check value instead.');
  return {
    id: r.id,
    purpose: r.purpose,
    version: r.version,
    state: r.state,
    createdAt: r.createdAt,
    kcv: r.kcv,
    algorithm: r.algorithm,
    origin: r.origin,
  };
}

/** KCV of an AES key held by the backend. */
export function aesKcv(backend: KeystoreBackend, ref: string): string {
  return kcvFromBlock(backend.checkBlock(ref));
}

/** Public-key "KCV": first 3 bytes of SHA-256 over the SPKI, shown the same way as AES KCVs. */
export function publicKeyKcv(spkiDer: Buffer): string {
  return kcvFromBlock(createHash('sha256').update(spkiDer).digest());
}

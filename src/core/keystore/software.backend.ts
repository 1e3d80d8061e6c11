import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { aesCmac } from '../crypto/aes-cmac';
import { kdfCounterCmac, type CounterKdfInput } from '../crypto/sp800-108';
import { AppError } from '../errors';
import { writeFileAtomic } from '../atomic-file';
import { PassphraseKekProvider, type KekParams, type KekProvider } from './kek-provider';
import type { KeyOptions, KeyRef, KeystoreBackend } from './keystore-backend';
import { decodeBackupFile, encodeBackupFile } from './backup-file.codec';
import { decodeKeystoreFile, encodeKeystoreFile } from './keystore-file.codec';
import type { BackupCustodians } from './keystore.types';

// The embedded default: keys in process memory, persisted in one encrypted file.

type Entry =
  { type: 'aes'; value: Buffer; opts: KeyOptions } | { type: 'ec'; pkcs8: Buffer; key: KeyObject; opts: KeyOptions };

const payloadSchema = z.object({
  metadata: z.string(),
  keys: z.array(
    z.object({ ref: z.string(), type: z.enum(['aes', 'ec']), value: z.string(), extractable: z.boolean() }),
  ),
  auditAnchor: z.string().optional(),
});

export interface SoftwareBackendOptions {
  readonly file: string;
  readonly kek: KekProvider;
  /** Create an empty keystore when the file does not exist (first start). */
  readonly createIfMissing: boolean;
  /** KEK for each custodian's share of a backup file; defaults to scrypt over their backup passphrase. */
  readonly backupKek?: (passphrase: string) => KekProvider;
}

export class SoftwareBackend implements KeystoreBackend {
  readonly kind = 'software' as const;
  private readonly keys = new Map<KeyRef, Entry>();
  private kek: Buffer | null = null;
  private kekParams: KekParams | null = null;
  private seq = 0;
  /** The metadata last committed, so the audit anchor can be written without the service's help. */
  private metadata = JSON.stringify(null);
  private auditAnchor: string | undefined;

  constructor(private readonly opts: SoftwareBackendOptions) {}

  async open(): Promise<string | undefined> {
    if (!existsSync(this.opts.file)) {
      if (!this.opts.createIfMissing) {
        throw new AppError(
          'KEYSTORE_MISSING',
          `No keystore at ${this.opts.file}. Restore one from backup or initialise a new keystore.`,
        );
      }
      const { kek, params } = await this.opts.kek.create();
      this.kek = kek;
      this.kekParams = params;
      await this.commit(JSON.stringify(null));
      return undefined;
    }
    const decoded = await decodeKeystoreFile(readFileSync(this.opts.file), this.opts.kek);
    const metadata = this.load(decoded.payload);
    this.kek = decoded.kek;
    this.kekParams = decoded.kekParams;
    return metadata === 'null' ? undefined : metadata;
  }

  async commit(metadata: string): Promise<void> {
    if (!this.kek || !this.kekParams)
      throw new AppError('KEYSTORE_CLOSED', 'The keystore is not open. Unlock it first.');
    writeFileAtomic(this.opts.file, encodeKeystoreFile(this.serialise(metadata), this.kek, this.kekParams));
    this.metadata = metadata;
  }

  async close(): Promise<void> {
    for (const e of this.keys.values()) if (e.type === 'aes') e.value.fill(0);
    this.keys.clear();
    this.kek?.fill(0);
    this.kek = null;
  }

  generateAes(bytes: 16 | 32, opts: KeyOptions): KeyRef {
    return this.put({ type: 'aes', value: randomBytes(bytes), opts });
  }

  importAes(value: Buffer, opts: KeyOptions): KeyRef {
    return this.put({ type: 'aes', value: Buffer.from(value), opts });
  }

  deriveAes(parent: KeyRef, input: CounterKdfInput, opts: KeyOptions): KeyRef {
    return this.put({ type: 'aes', value: this.deriveBytes(parent, input), opts });
  }

  deriveBytes(parent: KeyRef, input: CounterKdfInput): Buffer {
    return kdfCounterCmac(this.aes(parent), input);
  }

  destroy(ref: KeyRef): void {
    const e = this.keys.get(ref);
    if (e?.type === 'aes') e.value.fill(0);
    this.keys.delete(ref);
  }

  checkBlock(ref: KeyRef): Buffer {
    return this.aesEcb(this.aes(ref), Buffer.alloc(16, 1)).subarray(0, 3);
  }

  aesCbc(ref: KeyRef, op: 'encrypt' | 'decrypt', iv: Uint8Array, data: Uint8Array): Buffer {
    const key = this.aes(ref);
    const name = `aes-${key.length * 8}-cbc`;
    const c = op === 'encrypt' ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(data), c.final()]);
  }

  cmac(ref: KeyRef, data: Uint8Array): Buffer {
    return aesCmac(this.aes(ref), data);
  }

  generateEcP256(opts: KeyOptions): { ref: KeyRef; spkiDer: Buffer } {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const ref = this.put({ type: 'ec', pkcs8, key: privateKey, opts });
    return { ref, spkiDer: publicKey.export({ format: 'der', type: 'spki' }) };
  }

  ecdsaSign(ref: KeyRef, data: Uint8Array): Buffer {
    const e = this.keys.get(ref);
    if (e?.type !== 'ec') throw missing();
    return sign('sha256', data, { key: e.key, dsaEncoding: 'ieee-p1363' });
  }

  async exportBackup(custodians: BackupCustodians, metadata: string): Promise<Buffer> {
    const [a, b] = custodians.map((c) => ({ name: c.operator, kek: this.backupKek(c.passphrase) }));
    return encodeBackupFile(this.serialise(metadata), [a!, b!]);
  }

  async importBackup(blob: Buffer, passphrases: readonly [string, string]): Promise<string> {
    const payload = await decodeBackupFile(blob, [this.backupKek(passphrases[0]), this.backupKek(passphrases[1])]);
    const previous = new Map(this.keys);
    // The live anchor is newer than any backup's: a restore must not move it back (docs/audit.md).
    const [previousMetadata, liveAnchor] = [this.metadata, this.auditAnchor];
    this.keys.clear();
    try {
      const metadata = this.load(payload);
      this.auditAnchor = liveAnchor ?? this.auditAnchor;
      await this.commit(metadata);
      return metadata;
    } catch (err) {
      this.keys.clear();
      for (const [k, v] of previous) this.keys.set(k, v);
      [this.metadata, this.auditAnchor] = [previousMetadata, liveAnchor];
      throw err;
    }
  }

  private backupKek(passphrase: string): KekProvider {
    return this.opts.backupKek ? this.opts.backupKek(passphrase) : new PassphraseKekProvider(passphrase);
  }

  private serialise(metadata: string): Buffer {
    const keys = [...this.keys.entries()]
      .filter(([, e]) => e.opts.persistent)
      .map(([ref, e]) => ({
        ref,
        type: e.type,
        value: (e.type === 'aes' ? e.value : e.pkcs8).toString('base64'),
        extractable: e.opts.extractable,
      }));
    return Buffer.from(JSON.stringify({ metadata, keys, auditAnchor: this.auditAnchor }), 'utf8');
  }

  /** Loads persistent keys from a decrypted payload; returns the service metadata. */
  private load(payload: Buffer): string {
    let parsed: z.infer<typeof payloadSchema>;
    try {
      parsed = payloadSchema.parse(JSON.parse(payload.toString('utf8')));
    } catch {
      throw new AppError(
        'KEYSTORE_TAMPERED',
        'The keystore contents are not in the expected form. Restore the keystore from a backup.',
      );
    }
    for (const k of parsed.keys) {
      const value = Buffer.from(k.value, 'base64');
      const opts = { persistent: true, extractable: k.extractable };
      if (k.type === 'aes') this.keys.set(k.ref, { type: 'aes', value, opts });
      else
        this.keys.set(k.ref, {
          type: 'ec',
          pkcs8: value,
          key: createPrivateKey({ key: value, format: 'der', type: 'pkcs8' }),
          opts,
        });
    }
    this.metadata = parsed.metadata;
    this.auditAnchor = parsed.auditAnchor;
    return parsed.metadata;
  }

  private put(e: Entry): KeyRef {
    const ref = e.opts.persistent ? `k-${randomBytes(6).toString('hex')}` : `e-${++this.seq}`;
    this.keys.set(ref, e);
    return ref;
  }

  private aes(ref: KeyRef): Buffer {
    const e = this.keys.get(ref);
    if (e?.type !== 'aes') throw missing();
    return e.value;
  }

  private aesEcb(key: Buffer, block: Buffer): Buffer {
    const c = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(block), c.final()]);
  }

  readAuditAnchor(): string | undefined {
    return this.auditAnchor;
  }

  /** Inside the same authenticated, encrypted file as the keys: rewriting it needs the passphrase. */
  async writeAuditAnchor(value: string): Promise<void> {
    const previous = this.auditAnchor;
    this.auditAnchor = value;
    try {
      await this.commit(this.metadata);
    } catch (err) {
      this.auditAnchor = previous;
      throw err;
    }
  }
}

function missing(): AppError {
  return new AppError(
    'KEY_NOT_FOUND',
    'The key is no longer in the keystore (released or never created). Derive or create it again.',
  );
}

import type { CounterKdfInput } from '../crypto/sp800-108';
import type { BackendKind, BackupCustodians } from './keystore.types';

// What a key store must do, stated once for node:crypto and for PKCS#11. References are
// opaque strings; persistent ones survive close/open, the others die with the process.
// Only the keystore service talks to a backend; nothing here leaves src/core/keystore.

export type KeyRef = string;

export interface KeyOptions {
  /** Stored in the keystore file / on the token (master keys, S, CA) rather than in memory only. */
  readonly persistent: boolean;
  /**
   * CKA_EXTRACTABLE on PKCS#11. The keystore makes every key with false: no key is ever wrapped out
   * (the backend has no wrap operation). Kept in the file format for older keystore files.
   */
  readonly extractable: boolean;
}

export interface KeystoreBackend {
  readonly kind: BackendKind;
  /** Opens the store; returns the metadata last committed (undefined for a new store). */
  open(): Promise<string | undefined>;
  /** Persists metadata together with the persistent keys, atomically for the file backend. */
  commit(metadata: string): Promise<void>;
  close(): Promise<void>;

  generateAes(bytes: 16 | 32, opts: KeyOptions): KeyRef;
  /** Ceremony only: a master key formed from components in host memory. */
  importAes(value: Buffer, opts: KeyOptions): KeyRef;
  /** SP 800-108 counter/CMAC under `parent`; the result stays inside as a new key. */
  deriveAes(parent: KeyRef, input: CounterKdfInput, opts: KeyOptions): KeyRef;
  /**
   * The same KDF, bytes out — used only to put a card key into the mailer and into the PERSONALISE /
   * ROTATE KEY plaintext (card-key.service.ts withKeyBytes), both audited.
   */
  deriveBytes(parent: KeyRef, input: CounterKdfInput): Buffer;
  destroy(ref: KeyRef): void;

  /** First 3 bytes of AES-ECB(K, 16 × 0x01) — the raw check block, never the key. */
  checkBlock(ref: KeyRef): Buffer;
  aesCbc(ref: KeyRef, op: 'encrypt' | 'decrypt', iv: Uint8Array, data: Uint8Array): Buffer;
  cmac(ref: KeyRef, data: Uint8Array): Buffer;
  generateEcP256(opts: KeyOptions): { ref: KeyRef; spkiDer: Buffer };
  /** ECDSA P-256 over SHA-256(data), r || s (64 bytes). */
  ecdsaSign(ref: KeyRef, data: Uint8Array): Buffer;

  /** File backends only: the whole store in a two-custodian backup file, and its inverse. */
  exportBackup?(custodians: BackupCustodians, metadata: string): Promise<Buffer>;
  /** `passphrases` in the file's custodian order; nothing changes unless both open their shares. */
  importBackup?(blob: Buffer, passphrases: readonly [string, string]): Promise<string>;

  /**
   * The audit anchor (opaque text) where whoever holds only the database cannot change it: inside the
   * authenticated keystore file, or a private data object on the token. Undefined before the first.
   */
  readAuditAnchor(): string | undefined;
  writeAuditAnchor(value: string): Promise<void>;
}

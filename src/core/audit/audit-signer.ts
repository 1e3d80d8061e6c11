import { createHash, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { AuditCheckpointToSign, SignedAuditCheckpoint } from '../keystore/keystore.types';
import type { AuditRow } from './audit.service';

/**
 * Signs audit checkpoints. The keystore provides the production implementation (the audit key never
 * leaves it; see keystore-audit-signer.ts); the software one below serves tests.
 * Signatures are ECDSA P-256 over SHA-256, DER-encoded. Signing is asynchronous because an HSM may answer slowly.
 */
export interface AuditSigner {
  keyId(): string;
  sign(data: Buffer): Promise<Buffer>;
  verify(data: Buffer, sig: Buffer): boolean;
  publicKeyPem(): string;
  /** The keystore's signer: signs a checkpoint and moves the keystore's anchor, given the entries since it. */
  readonly anchored?: AnchoredCheckpointSigner;
}

export interface AnchoredCheckpointSigner {
  /** The seq the keystore last signed, or null before the first checkpoint. */
  anchorSeq(): Promise<number | null>;
  signCheckpoint(cp: AuditCheckpointToSign, since: readonly AuditRow[]): Promise<SignedAuditCheckpoint>;
}

/** The signer in use now, or null while none is available (the keystore holding the audit key is locked). */
export type AuditSignerSource = () => Promise<AuditSigner | null>;

/** Key id: the first 16 hex digits of SHA-256 over the public key's DER SubjectPublicKeyInfo. */
export function keyIdOf(publicKeyPem: string): string {
  return fingerprintOf(publicKeyPem).slice(0, 16);
}

/** Fingerprint: lowercase hex SHA-256 over the DER SubjectPublicKeyInfo (the key id is its first 16 digits). */
export function fingerprintOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

/** Checks a signature against a PEM public key; false for any malformed input rather than throwing. */
export function verifyWithPem(publicKeyPem: string, data: Buffer, sig: Buffer): boolean {
  try {
    return verify('sha256', data, { key: publicKeyPem, dsaEncoding: 'der' }, sig);
  } catch {
    return false;
  }
}

/** ECDSA P-256 in process memory. The private key is never exported. */
export class SoftwareAuditSigner implements AuditSigner {
  private readonly pem: string;
  private readonly id: string;

  private constructor(private readonly privateKey: KeyObject) {
    this.pem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
    this.id = keyIdOf(this.pem);
  }

  static generate(): SoftwareAuditSigner {
    return new SoftwareAuditSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }

  static fromPrivateKey(key: KeyObject): SoftwareAuditSigner {
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('audit signing key must be an EC P-256 private key');
    }
    return new SoftwareAuditSigner(key);
  }

  keyId(): string {
    return this.id;
  }

  async sign(data: Buffer): Promise<Buffer> {
    return sign('sha256', data, { key: this.privateKey, dsaEncoding: 'der' });
  }

  verify(data: Buffer, sig: Buffer): boolean {
    return verifyWithPem(this.pem, data, sig);
  }

  publicKeyPem(): string {
    return this.pem;
  }
}

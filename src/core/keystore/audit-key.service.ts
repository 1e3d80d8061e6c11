import { createPublicKey } from 'node:crypto';
import { p1363ToDer } from '../crypto/ecdsa-signature';
import { AppError } from '../errors';
import type { KeystoreBackend } from './keystore-backend';
import type { AuditKeyPublic, AuditSink, KeyInfo } from './keystore.types';
import { publicKeyKcv, toInfo, type KeyRegistry } from './key-registry';

// The audit key signs checkpoints of the audit chain and nothing else: keeping it apart from S
// (which cards trust) means a compromise of one never forges the other's signatures. It is made
// and used exactly like S and the bank CA: generated in the backend, ECDSA P-256, never extractable.

const KEEP = { persistent: true, extractable: false } as const;

export class AuditKeyService {
  constructor(
    private readonly backend: KeystoreBackend,
    private readonly registry: KeyRegistry,
    private readonly audit: AuditSink,
  ) {}

  /** Creates the audit key when the keystore has none (a new keystore, or one made before audit keys existed). */
  async ensure(): Promise<KeyInfo | null> {
    if (this.registry.active('audit')) return null;
    const { ref, spkiDer } = this.backend.generateEcP256(KEEP);
    const rec = this.registry.add(
      { id: ref, purpose: 'audit', kcv: publicKeyKcv(spkiDer), algorithm: 'EC-P256', origin: 'generated', publicKey: spkiDer.toString('base64') },
      'retired',
    );
    await this.registry.commit();
    this.audit('keystore.audit_key.created', { kcv: rec.kcv, version: rec.version });
    return toInfo(rec);
  }

  publicKey(): AuditKeyPublic {
    const rec = this.key();
    const spkiDer = Buffer.from(rec.publicKey ?? '', 'base64');
    const pem = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString();
    return { spkiDer, pem, kcv: rec.kcv, version: rec.version };
  }

  /** ECDSA P-256 / SHA-256, DER (what audit checkpoints store). */
  sign(data: Uint8Array): Buffer {
    return p1363ToDer(this.backend.ecdsaSign(this.key().id, data));
  }

  private key() {
    const rec = this.registry.active('audit');
    if (!rec) throw new AppError('KEYSTORE_NO_AUDIT_KEY', 'The keystore has no audit key. Lock and unlock the keystore to create it.');
    return rec;
  }
}

import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { keyIdOf } from '../audit/audit-signer';
import { checkpointMessage } from '../audit/audit-verify';
import { entryHash } from '../audit/audit.service';
import { p1363ToDer } from '../crypto/ecdsa-signature';
import { AppError } from '../errors';
import type { KeystoreBackend } from './keystore-backend';
import type {
  AuditAnchor,
  AuditChainEntry,
  AuditCheckpointToSign,
  AuditKeyPublic,
  AuditSink,
  KeyInfo,
  SignedAuditCheckpoint,
} from './keystore.types';
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
      {
        id: ref,
        purpose: 'audit',
        kcv: publicKeyKcv(spkiDer),
        algorithm: 'EC-P256',
        origin: 'generated',
        publicKey: spkiDer.toString('base64'),
      },
      'retired',
    );
    await this.registry.commit();
    this.audit('keystore.audit_key.created', { kcv: rec.kcv, version: rec.version });
    return toInfo(rec);
  }

  publicKey(): AuditKeyPublic {
    const rec = this.key();
    const spkiDer = Buffer.from(rec.publicKey ?? '', 'base64');
    const pem = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' })
      .export({ format: 'pem', type: 'spki' })
      .toString();
    return { spkiDer, pem, kcv: rec.kcv, version: rec.version };
  }

  /** ECDSA P-256 / SHA-256, DER (what audit checkpoints store). */
  sign(data: Uint8Array): Buffer {
    return p1363ToDer(this.backend.ecdsaSign(this.key().id, data));
  }

  private key() {
    const rec = this.registry.active('audit');
    if (!rec)
      throw new AppError(
        'KEYSTORE_NO_AUDIT_KEY',
        'The keystore has no audit key. Lock and unlock the keystore to create it.',
      );
    return rec;
  }

  anchor(): AuditAnchor | null {
    const stored = this.backend.readAuditAnchor();
    if (stored === undefined) return null;
    const parsed = anchorSchema.safeParse(safeJson(stored));
    if (!parsed.success)
      throw new AppError(
        'KEYSTORE_TAMPERED',
        'The audit anchor in the keystore is not in the expected form. Restore the keystore from a backup.',
      );
    return parsed.data;
  }

  /**
   * Signs the checkpoint only when `since` leads from the anchor to it, then moves the anchor. The first
   * anchor is taken as given (nothing older to check it against); from then on a rewritten, cut or forked
   * chain can no longer be signed, not even by code holding the open keystore.
   */
  async signCheckpoint(cp: AuditCheckpointToSign, since: readonly AuditChainEntry[]): Promise<SignedAuditCheckpoint> {
    const anchor = this.anchor();
    try {
      if (anchor) checkLink(anchor, cp, since);
    } catch (err) {
      // A refusal here means the log was changed behind the application: evidence in itself.
      const code = err instanceof AppError ? err.code : 'UNEXPECTED';
      this.audit('keystore.audit_checkpoint.refused', { code, seq: cp.seq, anchorSeq: anchor?.seq ?? 0 });
      throw err;
    }
    const keyId = keyIdOf(this.publicKey().pem);
    const signature = this.sign(
      checkpointMessage({ seq: cp.seq, hash: cp.hash, key_id: keyId, signed_at: cp.signedAt }),
    );
    const next: AuditAnchor = { seq: cp.seq, hash: cp.hash, at: cp.signedAt, keyId };
    await this.backend.writeAuditAnchor(JSON.stringify(next));
    return { keyId, signature };
  }
}

const anchorSchema = z.object({
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.string(),
  keyId: z.string(),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function checkLink(anchor: AuditAnchor, cp: AuditCheckpointToSign, since: readonly AuditChainEntry[]): void {
  if (cp.seq < anchor.seq) {
    throw new AppError(
      'AUDIT_ANCHOR_AHEAD',
      `The audit log ends at #${cp.seq}, but the keystore signed it up to #${anchor.seq}: entries were removed. Verify the audit log; nothing was signed.`,
    );
  }
  let prev = { seq: anchor.seq, hash: anchor.hash };
  for (const e of since) {
    if (e.seq !== prev.seq + 1 || e.prev_hash !== prev.hash || entryHash(e) !== e.hash) break;
    prev = { seq: e.seq, hash: e.hash };
  }
  if (prev.seq !== cp.seq || prev.hash !== cp.hash) {
    throw new AppError(
      'AUDIT_CHAIN_BROKEN',
      `The audit log no longer leads from #${anchor.seq}, signed by the keystore, to #${cp.seq}: entries were changed. Verify the audit log; nothing was signed.`,
    );
  }
}

import type { Keystore } from '../keystore/keystore.types';
import { keyIdOf, verifyWithPem, type AuditSigner, type AuditSignerSource } from './audit-signer';
import type { AuditTrust } from './audit-verify';

/**
 * Checkpoints signed with the keystore's audit key while the keystore is open; null while it is
 * locked, so due checkpoints wait for the unlock instead of falling back to a key nobody keeps.
 * The key id follows the documented rule (SHA-256 of the SPKI): its first 6 hex digits are the
 * audit key's KCV on the Keys page. Each signature moves the keystore's anchor (docs/audit.md).
 */
export function keystoreAuditSigner(openKeystore: () => Keystore | null): AuditSignerSource {
  return async () => {
    const ks = openKeystore();
    if (!ks) return null;
    const { pem } = await ks.auditPublicKey();
    const id = keyIdOf(pem);
    const signer: AuditSigner = {
      keyId: () => id,
      publicKeyPem: () => pem,
      sign: (data) => ks.signAudit(data),
      verify: (data, sig) => verifyWithPem(pem, data, sig),
      anchored: {
        anchorSeq: async () => (await ks.auditAnchor())?.seq ?? null,
        signCheckpoint: (cp, since) => ks.signAuditCheckpoint(cp, since),
      },
    };
    return signer;
  };
}

/** What the in-app check trusts, or null while none is available (the keystore is locked). */
export type AuditTrustSource = () => Promise<AuditTrust | null>;

/** The keystore's own audit key and anchor; never a key recorded in the database. */
export function keystoreAuditTrust(openKeystore: () => Keystore | null): AuditTrustSource {
  return async () => {
    const ks = openKeystore();
    if (!ks) return null;
    const { pem } = await ks.auditPublicKey();
    const anchor = await ks.auditAnchor();
    return {
      source: 'keystore',
      keys: new Map([[keyIdOf(pem), pem]]),
      anchor: anchor && { seq: anchor.seq, hash: anchor.hash, at: anchor.at },
      anchorIsLatest: true,
    };
  };
}

/** A fixed signer (tests without a keystore): its own public key, and no anchor. */
export function fixedAuditTrust(signer: AuditSigner): AuditTrustSource {
  return async () => ({ source: 'public-key', keys: new Map([[signer.keyId(), signer.publicKeyPem()]]), anchor: null });
}

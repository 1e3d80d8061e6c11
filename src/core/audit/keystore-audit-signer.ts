import type { Keystore } from '../keystore/keystore.types';
import { keyIdOf, verifyWithPem, type AuditSigner, type AuditSignerSource } from './audit-signer';

/**
 * Checkpoints signed with the keystore's audit key while the keystore is open; null while it is
 * locked, so due checkpoints wait for the unlock instead of falling back to a key nobody keeps.
 * The key id follows the documented rule (SHA-256 of the SPKI): its first 6 hex digits are the
 * audit key's KCV on the Keys page.
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
    };
    return signer;
  };
}

import { constants, privateDecrypt, type KeyObject } from 'node:crypto';
import {
  envelopeKeysFromCardKey,
  envelopeKeysFromSecret,
  openEnvelope,
  parseEnvelope,
} from '../../src/core/card/protocol/list-envelope';
import { decodeListBody, decodeSignedList } from '../../src/core/card/protocol/list-format';
import { recordablePublicKey } from '../../src/core/push/seal-target';

// Opening a list envelope as the card does (profile 7.3): the one legitimate place a code appears.
// Tests use it to learn the codes of a list made inside the keystore, with the card's own key.

/** The codes of a public-key envelope, opened with the card's RSA private key; undefined if it does not open. */
export function codesFromPublicKeyEnvelope(envelope: Buffer, cardPrivateKey: KeyObject): string[] | undefined {
  try {
    const env = parseEnvelope(envelope);
    const p = privateDecrypt(
      { key: cardPrivateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      env.wrapped ?? Buffer.alloc(0),
    );
    return codesOf(openEnvelope(env, envelopeKeysFromSecret(p)));
  } catch {
    return undefined;
  }
}

/** The codes of a card-key envelope, opened with K; undefined if it does not open. */
export function codesFromCardKeyEnvelope(envelope: Buffer, k: Buffer): string[] | undefined {
  try {
    const env = parseEnvelope(envelope);
    return codesOf(openEnvelope(env, envelopeKeysFromCardKey(k, env.header.cardId, env.header.listSeq)));
  } catch {
    return undefined;
  }
}

function codesOf(signedList: Buffer | undefined): string[] | undefined {
  if (!signedList) return undefined;
  return decodeListBody(decodeSignedList(signedList).body).entries.map((e) => e.code);
}

/** The card's RSA public key as the card hands it out (modulus, exponent). */
export function rsaPublicKeyBytes(publicKey: KeyObject): { modulus: Buffer; exponent: Buffer } {
  const jwk = publicKey.export({ format: 'jwk' });
  return { modulus: Buffer.from(jwk.n ?? '', 'base64url'), exponent: Buffer.from(jwk.e ?? '', 'base64url') };
}

/**
 * The key pair a virtual card holds (its record's `rsa`), in the form the desk keeps it on record
 * (hex DER SubjectPublicKeyInfo, docs/push.md); null when the card has none.
 */
export function publicKeyOnCard(rsa: { modulus: string; exponent: string } | undefined): string | null {
  return rsa
    ? recordablePublicKey({ modulus: Buffer.from(rsa.modulus, 'hex'), exponent: Buffer.from(rsa.exponent, 'hex') })
    : null;
}

import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { EC_POINT_LENGTH } from './profile.constants';

// ECDSA P-256 with SHA-256 and DER signatures: what Java Card's Signature.ALG_ECDSA_SHA_256
// produces and verifies. Public keys travel as uncompressed points 04 || X || Y.

export function ecPublicPoint(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new TypeError('expected a P-256 key');
  }
  return Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
}

/** Undefined when the bytes are not a valid uncompressed P-256 point. */
export function ecPublicKeyFromPoint(point: Buffer): KeyObject | undefined {
  if (point.length !== EC_POINT_LENGTH || point[0] !== 0x04) return undefined;
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
}

export function ecdsaSign(privateKey: KeyObject, message: Buffer): Buffer {
  return sign('sha256', message, { key: privateKey, dsaEncoding: 'der' });
}

/** False (never an exception) for a bad point, a malformed DER signature or a wrong signature. */
export function ecdsaVerify(point: Buffer, message: Buffer, signature: Buffer): boolean {
  const key = ecPublicKeyFromPoint(point);
  if (!key) return false;
  try {
    return verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { ClientCertificateService } from '../core/verification/client-certificate.service';
import type { VerifyClient } from '../core/verification/verify-client.service';

// Mutual TLS (docs/verification-service.md "Client certificates"). With TLS the service asks every
// client for a certificate (`requestCert`) and trusts the keystore's bank CA for it (`ca`), but does
// not end a handshake whose certificate fails (`rejectUnauthorized: false`): an API-key client
// sends none, and a refused certificate gets a precise JSON answer rather than a TLS alert. Here a
// request is mapped to its client: no certificate → the API key decides; a certificate that OpenSSL
// did not verify against the bank CA (unknown CA, expired, not for client auth) → refused, even if
// an API key comes with it; a verified one → the client row with its fingerprint, unless revoked.

export type CertificateAuthResult =
  | { readonly kind: 'none' }
  | { readonly kind: 'client'; readonly client: VerifyClient }
  | { readonly kind: 'refused'; readonly message: string };

const REASONS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "it was not issued by the bank's CA",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "it was not issued by the bank's CA",
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: "it was not issued by the bank's CA",
  CERT_SIGNATURE_FAILURE: 'its signature is wrong',
  INVALID_PURPOSE: 'it is not a TLS client certificate',
};

export async function certificateClient(
  req: FastifyRequest,
  certificates: Pick<ClientCertificateService, 'byFingerprint'> | undefined,
): Promise<CertificateAuthResult> {
  const socket = req.raw.socket as Partial<TLSSocket>;
  if (!certificates || typeof socket.getPeerCertificate !== 'function') return { kind: 'none' };
  const peer = socket.getPeerCertificate();
  if (!peer || !peer.fingerprint256) return { kind: 'none' };
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? '');
    return {
      kind: 'refused',
      message: `The client certificate is refused: ${REASONS[code] ?? `it did not verify (${code.slice(0, 60)})`}. Ask the issuer for a certificate from its bank CA.`,
    };
  }
  const client = await certificates.byFingerprint(peer.fingerprint256);
  if (!client)
    return {
      kind: 'refused',
      message:
        'The client certificate is revoked, expired or not registered for a client. Ask the issuer for a new one.',
    };
  return { kind: 'client', client };
}

import { createHash, randomBytes } from 'node:crypto';
import * as forge from 'node-forge';

// X.509 v3 certificates for EC P-256 keys. node-forge has no ECDSA, so forge only encodes:
// we build the TBSCertificate with its ASN.1 layer, the keystore signs the DER bytes
// (ECDSA with SHA-256, inside the backend), and we assemble the certificate around the signature.

const { asn1 } = forge;
const C = asn1.Class.UNIVERSAL;
const T = asn1.Type;
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface CertificateRequest {
  readonly subject: { readonly commonName: string; readonly organization?: string };
  readonly issuer: { readonly commonName: string; readonly organization?: string };
  readonly subjectSpkiDer: Buffer;
  /** The issuer's SPKI, for the authority key identifier (equal to the subject's when self-signed). */
  readonly issuerSpkiDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** CA certificates may sign certificates; the issuer key S signs data only. */
  readonly isCa: boolean;
  /** A TLS client certificate (the verification service's clients): extendedKeyUsage clientAuth. */
  readonly clientAuth?: boolean;
}

/** Builds and signs a certificate; `signDer` returns a DER ECDSA-SHA256 signature over its input. */
export function buildCertificate(req: CertificateRequest, signDer: (tbsDer: Buffer) => Buffer): string {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01; // positive and without a leading zero byte
  const sigAlg = seq([oid(OID_ECDSA_SHA256)]);
  const tbs = seq([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(C, T.INTEGER, false, bin(Buffer.from([2])))]),
    asn1.create(C, T.INTEGER, false, bin(serial)),
    sigAlg,
    name(req.issuer),
    seq([
      asn1.create(C, T.UTCTIME, false, asn1.dateToUtcTime(req.notBefore)),
      asn1.create(C, T.UTCTIME, false, asn1.dateToUtcTime(req.notAfter)),
    ]),
    name(req.subject),
    asn1.fromDer(bin(req.subjectSpkiDer)),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq(extensions(req))]),
  ]);
  const tbsDer = toBuffer(tbs);
  const signature = signDer(tbsDer);
  const cert = seq([
    asn1.fromDer(bin(tbsDer)),
    seq([oid(OID_ECDSA_SHA256)]),
    asn1.create(C, T.BITSTRING, false, '\x00' + bin(signature)),
  ]);
  const b64 = toBuffer(cert)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const spki = asn1.fromDer(bin(spkiDer));
  const bits = (spki.value as forge.asn1.Asn1[])[1];
  const value = typeof bits?.value === 'string' ? bits.value.slice(1) : '';
  return createHash('sha1').update(Buffer.from(value, 'binary')).digest();
}

function extensions(req: CertificateRequest): forge.asn1.Asn1[] {
  // keyUsage bits: digitalSignature (0) for S; keyCertSign (5) + cRLSign (6) for a CA.
  const keyUsage = req.isCa ? Buffer.from([0x01, 0x06]) : Buffer.from([0x07, 0x80]);
  const basic = seq(req.isCa ? [asn1.create(C, T.BOOLEAN, false, '\xff')] : []);
  const aki = seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, bin(keyIdentifier(req.issuerSpkiDer)))]);
  const list = [
    ext('2.5.29.19', true, basic),
    ext('2.5.29.15', true, asn1.create(C, T.BITSTRING, false, bin(keyUsage))),
    ext('2.5.29.14', false, asn1.create(C, T.OCTETSTRING, false, bin(keyIdentifier(req.subjectSpkiDer)))),
    ext('2.5.29.35', false, aki),
  ];
  // A client certificate is good for TLS client authentication only (OpenSSL's "sslclient" purpose).
  if (req.clientAuth) list.push(ext('2.5.29.37', false, seq([oid(OID_CLIENT_AUTH)])));
  return list;
}

function ext(id: string, critical: boolean, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(asn1.create(C, T.BOOLEAN, false, '\xff'));
  parts.push(asn1.create(C, T.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return seq(parts);
}

function name(n: { commonName: string; organization?: string }): forge.asn1.Asn1 {
  const rdn = (id: string, v: string) =>
    asn1.create(C, T.SET, true, [seq([oid(id), asn1.create(C, T.UTF8, false, forge.util.encodeUtf8(v))])]);
  return seq([...(n.organization ? [rdn(OID_O, n.organization)] : []), rdn(OID_CN, n.commonName)]);
}

function seq(items: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return asn1.create(C, T.SEQUENCE, true, items);
}

function oid(id: string): forge.asn1.Asn1 {
  return asn1.create(C, T.OID, false, asn1.oidToDer(id).getBytes());
}

function bin(b: Buffer): string {
  return b.toString('binary');
}

function toBuffer(a: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(a).getBytes(), 'binary');
}

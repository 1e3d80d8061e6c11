import { createPublicKey, verify } from 'node:crypto';
import { AppError } from '../errors';

// A PKCS#10 certificate request (RFC 2986), read far enough to take the public key out of it and to
// check that whoever sent it holds the private key (the request is signed with it). The verification
// service's clients send one to get a TLS client certificate: their private key never leaves them.
// node:crypto has no CSR reader and node-forge's handles RSA only, so this reads the DER itself.

export interface CertificateRequestInfo {
  /** The requested public key, DER SubjectPublicKeyInfo. */
  readonly spkiDer: Buffer;
  /** The subject's common name, when the request has one (informative: the desk names the certificate). */
  readonly commonName: string | null;
}

const SIGNATURE_HASH: Readonly<Record<string, string>> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384', // sha384WithRSAEncryption
};

const bad = (why: string) =>
  new AppError(
    'CSR_INVALID',
    `The certificate request is not usable (${why}). Ask the client for a new PEM request (openssl req -new).`,
  );

interface Tlv {
  readonly tag: number;
  /** The whole element, header included. */
  readonly raw: Buffer;
  readonly body: Buffer;
  readonly end: number;
}

function tlv(buf: Buffer, at: number): Tlv {
  const tag = buf[at];
  let len = buf[at + 1];
  if (tag === undefined || len === undefined) throw bad('truncated');
  let head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3) throw bad('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | (buf[at + 2 + i] ?? 0);
    head += n;
  }
  const end = at + head + len;
  if (end > buf.length) throw bad('truncated');
  return { tag, raw: buf.subarray(at, end), body: buf.subarray(at + head, end), end };
}

function children(parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < parent.body.length;) {
    const c = tlv(parent.body, at);
    out.push(c);
    at = c.end;
  }
  return out;
}

function oidText(body: Buffer): string {
  const first = body[0] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let v = 0;
  for (const b of body.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

function commonNameOf(name: Tlv): string | null {
  for (const rdn of children(name))
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (type?.tag === 0x06 && oidText(type.body) === '2.5.4.3' && value) return value.body.toString('utf8');
    }
  return null;
}

/** Reads a PEM certificate request and checks its signature; refuses anything else. */
export function readCertificateRequest(pem: string): CertificateRequestInfo {
  const m =
    /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END (NEW )?CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw bad('no "BEGIN CERTIFICATE REQUEST" block');
  const der = Buffer.from((m[2] ?? '').replace(/\s+/g, ''), 'base64');
  try {
    const outer = tlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw bad('not one DER sequence');
    const [info, alg, sig] = children(outer);
    if (!info || !alg || !sig || info.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03) throw bad('wrong shape');
    const [version, subject, spki] = children(info);
    if (version?.tag !== 0x02 || subject?.tag !== 0x30 || spki?.tag !== 0x30) throw bad('wrong shape');
    const algOid = children(alg)[0];
    const hash = algOid?.tag === 0x06 ? SIGNATURE_HASH[oidText(algOid.body)] : undefined;
    if (!hash) throw bad('its signature algorithm is not ECDSA or RSA with SHA-256/384');
    const key = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
    if (sig.body[0] !== 0) throw bad('bad signature encoding');
    if (!verify(hash, info.raw, key, sig.body.subarray(1))) throw bad('its signature does not match its key');
    return { spkiDer: Buffer.from(spki.raw), commonName: commonNameOf(subject) };
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw bad('not a DER certificate request');
  }
}

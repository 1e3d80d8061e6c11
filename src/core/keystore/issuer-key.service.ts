import { X509Certificate, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { derToP1363, p1363ToDer } from '../crypto/ecdsa-signature';
import { AppError } from '../errors';
import { buildCertificate } from './issuer-certificate';
import type { KeystoreBackend } from './keystore-backend';
import type { AuditSink, CaPublicKey, ClientCertificate, IssuerCardCredential, KeyInfo } from './keystore.types';
import { publicKeyKcv, toInfo, type KeyRegistry } from './key-registry';

// The issuer signing key S (source 001 [0024], [0026], [0063]) and the bank CA that certifies
// it. The CA's public key goes onto every card at personalisation, so a card can check S's
// certificate. Private halves never leave the backend.

const KEEP = { persistent: true, extractable: false } as const;
const DAY = 86_400_000;

export class IssuerKeyService {
  constructor(
    private readonly backend: KeystoreBackend,
    private readonly registry: KeyRegistry,
    private readonly audit: AuditSink,
    private readonly now: () => Date,
  ) {}

  async createBankCa(opts: { commonName: string; officer: string; validDays?: number }): Promise<KeyInfo> {
    const { ref, spkiDer } = this.backend.generateEcP256(KEEP);
    const dn = { commonName: opts.commonName };
    const certificate = this.certify(ref, spkiDer, spkiDer, dn, dn, true, opts.validDays ?? 3650);
    const rec = this.registry.add(
      {
        id: ref,
        purpose: 'bank-ca',
        kcv: publicKeyKcv(spkiDer),
        algorithm: 'EC-P256',
        origin: 'generated',
        publicKey: spkiDer.toString('base64'),
        certificate,
      },
      'retired',
    );
    await this.registry.commit();
    this.audit('keystore.bank_ca.created', { officer: opts.officer, kcv: rec.kcv, version: rec.version });
    return toInfo(rec);
  }

  async createIssuerKey(opts: { commonName: string; officer: string; validDays?: number }): Promise<KeyInfo> {
    const ca = this.ca();
    const caSpki = Buffer.from(ca.publicKey ?? '', 'base64');
    const { ref, spkiDer } = this.backend.generateEcP256(KEEP);
    const issuerDn = { commonName: this.caCommonName() };
    const certificate = this.certify(
      ca.id,
      spkiDer,
      caSpki,
      { commonName: opts.commonName },
      issuerDn,
      false,
      opts.validDays ?? 730,
    );
    const rec = this.registry.add(
      {
        id: ref,
        purpose: 'issuer-signing',
        kcv: publicKeyKcv(spkiDer),
        algorithm: 'EC-P256',
        origin: 'generated',
        publicKey: spkiDer.toString('base64'),
        certificate,
      },
      'retired',
    );
    await this.registry.commit();
    this.audit('keystore.issuer_key.created', {
      officer: opts.officer,
      kcv: rec.kcv,
      version: rec.version,
      ca_kcv: ca.kcv,
    });
    return toInfo(rec);
  }

  /**
   * A TLS client certificate for a client of the verification service, signed by the bank CA: the
   * client made its key pair and sent only the public half (a CSR the desk checked), so no private
   * key of a client ever exists here. The service trusts the bank CA as `ca` and maps the
   * certificate's fingerprint to the client's scopes (docs/verification-service.md).
   */
  issueClientCertificate(opts: {
    publicKeySpkiDer: Uint8Array;
    commonName: string;
    validDays: number;
  }): ClientCertificate {
    const ca = this.ca();
    let spki: Buffer;
    try {
      const key = createPublicKey({ key: Buffer.from(opts.publicKeySpkiDer), format: 'der', type: 'spki' });
      if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') throw new Error(key.asymmetricKeyType);
      spki = key.export({ format: 'der', type: 'spki' });
    } catch {
      throw new AppError(
        'KEYSTORE_BAD_PUBLIC_KEY',
        "The client's public key is not an EC or RSA public key. Ask the client for a new certificate request.",
      );
    }
    if (!(Number.isInteger(opts.validDays) && opts.validDays >= 1 && opts.validDays <= 825))
      throw new AppError('KEYSTORE_BAD_VALIDITY', 'A client certificate is valid for 1 to 825 days.');
    const pem = this.certify(
      ca.id,
      spki,
      Buffer.from(ca.publicKey ?? '', 'base64'),
      { commonName: opts.commonName },
      { commonName: this.caCommonName() },
      false,
      opts.validDays,
      true,
    );
    const x = new X509Certificate(pem);
    return {
      pem,
      serial: x.serialNumber.toLowerCase(),
      fingerprint256: x.fingerprint256,
      notBefore: new Date(x.validFrom).toISOString(),
      notAfter: new Date(x.validTo).toISOString(),
      caKcv: ca.kcv,
    };
  }

  caPublicKey(): CaPublicKey {
    const spkiDer = Buffer.from(this.ca().publicKey ?? '', 'base64');
    const pem = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' })
      .export({ format: 'pem', type: 'spki' })
      .toString();
    return { spkiDer, uncompressedPoint: spkiDer.subarray(-65), pem };
  }

  caCertificatePem(): string {
    return this.ca().certificate ?? '';
  }

  issuerCertificatePem(): string {
    return this.issuer().certificate ?? '';
  }

  sign(data: Uint8Array, encoding: 'der' | 'p1363'): Buffer {
    const raw = this.backend.ecdsaSign(this.issuer().id, data);
    return encoding === 'der' ? p1363ToDer(raw) : raw;
  }

  verify(data: Uint8Array, signature: Uint8Array, encoding: 'der' | 'p1363'): boolean {
    const key = createPublicKey({
      key: Buffer.from(this.issuer().publicKey ?? '', 'base64'),
      format: 'der',
      type: 'spki',
    });
    try {
      const sig = encoding === 'der' ? derToP1363(signature) : Buffer.from(signature);
      return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    } catch {
      return false; // a malformed signature is simply not valid
    }
  }

  /**
   * Cards check S with the CA key stored at personalisation: the CA signs 01 || S's point
   * (card profile 7.2). Made by the keystore's CA on demand; a bank CA outside the keystore
   * would sign it once with S's certificate.
   */
  cardCredential(): IssuerCardCredential {
    const publicKey = Buffer.from(this.issuer().publicKey ?? '', 'base64').subarray(-65);
    const caSignature = p1363ToDer(
      this.backend.ecdsaSign(this.ca().id, Buffer.concat([Buffer.from([0x01]), publicKey])),
    );
    return { publicKey, caSignature };
  }

  private certify(
    signerRef: string,
    subjectSpki: Buffer,
    issuerSpki: Buffer,
    subject: { commonName: string },
    issuer: { commonName: string },
    isCa: boolean,
    validDays: number,
    clientAuth = false,
  ): string {
    const notBefore = this.now();
    const notAfter = new Date(notBefore.getTime() + validDays * DAY);
    return buildCertificate(
      {
        subject,
        issuer,
        subjectSpkiDer: subjectSpki,
        issuerSpkiDer: issuerSpki,
        notBefore,
        notAfter,
        isCa,
        clientAuth,
      },
      (tbs) => p1363ToDer(this.backend.ecdsaSign(signerRef, tbs)),
    );
  }

  private caCommonName(): string {
    const pem = this.ca().certificate ?? '';
    const cn = /CN=([^\n]+)/.exec(new X509Certificate(pem).subject);
    return cn?.[1] ?? 'Bank CA';
  }

  private ca() {
    const ca = this.registry.active('bank-ca');
    if (!ca)
      throw new AppError(
        'KEYSTORE_NO_BANK_CA',
        "There is no bank CA key. Create the test CA or import the bank's CA first.",
      );
    return ca;
  }

  private issuer() {
    const s = this.registry.active('issuer-signing');
    if (!s)
      throw new AppError(
        'KEYSTORE_NO_ISSUER_KEY',
        'There is no issuer signing key yet. A security officer must create it.',
      );
    return s;
  }
}

import { createHash, randomBytes } from 'node:crypto';
import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import { readCertificateRequest } from '../crypto/csr';
import { AppError } from '../errors';
import type { KeystoreActor, KeystoreHolder } from '../keystore/keystore-holder.service';
import type { CertificateClientRow, ClientCertificateRepository } from './client-certificate.repository';
import { VERIFY_SCOPES, type VerifyScope } from './verify-client.repository';
import type { VerifyClient } from './verify-client.service';

// Clients of the verification service that authenticate with a TLS client certificate (migration
// 0016; docs/verification-service.md "Client certificates"). The client makes its key pair and sends
// a certificate request; the desk checks it, the keystore's bank CA signs a certificate for that
// public key (clientAuth only), and the client row binds the certificate's SHA-256 fingerprint to
// the client's scopes. The service trusts the bank CA for the TLS handshake and then looks the
// fingerprint up on every request, so a revocation (the row's revoked_at) takes effect at once.

export const CLIENT_CERT_DAYS = { default: 365, max: 825 } as const;

export interface VerifyClientCredential {
  readonly keyId: string;
  readonly credential: 'api_key' | 'certificate';
  readonly certSerial: string | null;
  readonly certFingerprint: string | null;
  readonly certNotAfter: string | null;
}

type CertRow = CertificateClientRow;

const isScope = (s: string): s is VerifyScope => (VERIFY_SCOPES as readonly string[]).includes(s);

const clientOf = (r: CertRow): VerifyClient => ({
  keyId: r.key_id,
  name: r.name,
  scopes: r.scopes.split(' ').filter(isScope),
  createdAt: r.created_at,
  createdBy: r.created_by,
  revokedAt: r.revoked_at,
});

export class ClientCertificateService {
  constructor(
    private readonly repo: ClientCertificateRepository,
    private readonly keystore: Pick<KeystoreHolder, 'run'>,
    private readonly audit: AuditTrail,
    private readonly now: () => Date = () => new Date(),
    /**
     * A certificate client's row commits with its entry (repositories.ts): given wherever the clients
     * table is shared (PostgreSQL). Without it the entry follows the change, as a SQLite unit does.
     */
    private readonly atomically: Atomically | null = null,
  ) {}

  /**
   * A new certificate client: the request's signature is checked (the client holds the private
   * key), the bank CA signs the certificate, and the row binds its fingerprint to the scopes.
   */
  async issue(opts: {
    name: string;
    scopes: readonly string[];
    csrPem: string;
    validDays?: number;
    actor: KeystoreActor;
    approver?: string | null;
  }): Promise<{ client: VerifyClient; certificatePem: string; serial: string; fingerprint: string; notAfter: string }> {
    const name = opts.name.trim();
    if (name.length < 1 || name.length > 80)
      throw new AppError('VERIFY_CLIENT_NAME', 'Name the client in 1 to 80 characters (e.g. "online-banking").');
    const scopes = [...new Set(opts.scopes)];
    if (scopes.length === 0 || !scopes.every(isScope))
      throw new AppError('VERIFY_CLIENT_SCOPE', `Give the client one or more scopes of: ${VERIFY_SCOPES.join(', ')}.`);
    const request = readCertificateRequest(opts.csrPem);
    const validDays = opts.validDays ?? CLIENT_CERT_DAYS.default;
    const cert = await this.keystore.run(opts.actor, (ks) =>
      ks.issueClientCertificate({
        publicKeySpkiDer: request.spkiDer,
        commonName: name,
        validDays,
        operator: opts.actor.operator,
      }),
    );
    const keyId = randomBytes(8).toString('hex');
    // Nobody ever sees this secret: a certificate client has no API key (the column is NOT NULL).
    const unusable = createHash('sha256').update(randomBytes(32)).digest('hex');
    const createdAt = this.now().toISOString();
    const write = async (repo: ClientCertificateRepository, audit: Pick<AuditTrail, 'append'>) => {
      const r = await repo.insert({
        keyId,
        keyHash: unusable,
        name,
        scopes,
        createdAt,
        createdBy: opts.actor.operator,
        fingerprint: cert.fingerprint256,
        serial: cert.serial,
        notAfter: cert.notAfter,
      });
      await this.entry(audit, opts, keyId, name, scopes, cert);
      return r;
    };
    const row = this.atomically
      ? await this.atomically((tx) => write(tx.repos.clientCertificates, tx.audit))
      : await write(this.repo, this.audit);
    return {
      client: clientOf(row),
      certificatePem: cert.pem,
      serial: cert.serial,
      fingerprint: cert.fingerprint256,
      notAfter: cert.notAfter,
    };
  }

  private entry(
    audit: Pick<AuditTrail, 'append'>,
    opts: Parameters<ClientCertificateService['issue']>[0],
    keyId: string,
    name: string,
    scopes: readonly string[],
    cert: { serial: string; notAfter: string },
  ): Promise<void> {
    return audit.append({
      operatorId: opts.actor.operatorId,
      operator: opts.actor.operator,
      role: opts.actor.role,
      action: 'verify_client.created',
      object: `verify-client:${keyId}`,
      outcome: 'ok',
      details: {
        name,
        scopes: scopes.join(' '),
        credential: 'certificate',
        serial: cert.serial,
        not_after: cert.notAfter,
        ...(opts.approver ? { approver: opts.approver } : {}),
      },
    });
  }

  /**
   * The active, unexpired client whose certificate has this fingerprint, or null. TLS checked the
   * chain and the dates already; the record's end date is checked again on our clock.
   */
  async byFingerprint(fingerprint256: string): Promise<VerifyClient | null> {
    const row = await this.repo.byFingerprint(fingerprint256.toUpperCase());
    if (!row || row.revoked_at !== null) return null;
    if (row.cert_not_after !== null && row.cert_not_after <= this.now().toISOString()) return null;
    return clientOf(row);
  }

  /** How each client authenticates (the desk's list shows it). */
  async credentials(): Promise<VerifyClientCredential[]> {
    return (await this.repo.all()).map((r) => ({
      keyId: r.key_id,
      credential: r.credential,
      certSerial: r.cert_serial,
      certFingerprint: r.cert_fingerprint,
      certNotAfter: r.cert_not_after,
    }));
  }
}

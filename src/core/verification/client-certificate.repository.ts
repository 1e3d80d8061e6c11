import type { Database } from '../db/database';

// The certificate clients' rows of verify_clients (migration 0016), for ClientCertificateService:
// one text per statement for both engines (PostgreSQL's form: client-certificate.repository.pg.ts).

export interface CertificateClientRow {
  key_id: string;
  name: string;
  scopes: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  credential: 'api_key' | 'certificate';
  cert_serial: string | null;
  cert_fingerprint: string | null;
  cert_not_after: string | null;
}

export interface NewCertificateClient {
  readonly keyId: string;
  /** An unusable API-key hash: the column is NOT NULL, a certificate client has no key. */
  readonly keyHash: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly createdAt: string;
  readonly createdBy: string;
  readonly fingerprint: string;
  readonly serial: string;
  readonly notAfter: string;
}

export interface ClientCertificateRepository {
  insert(c: NewCertificateClient): Promise<CertificateClientRow>;
  byFingerprint(fingerprint256: string): Promise<CertificateClientRow | null>;
  all(): Promise<CertificateClientRow[]>;
}

export const clientCertificateSql = {
  insert: `INSERT INTO verify_clients (key_id, key_hash, name, scopes, created_at, created_by, credential,
                                     cert_fingerprint, cert_serial, cert_not_after)
         VALUES (?, ?, ?, ?, ?, ?, 'certificate', ?, ?, ?)
         RETURNING key_id, name, scopes, created_at, created_by, revoked_at, credential, cert_serial,
                   cert_fingerprint, cert_not_after`,
  byFingerprint: `SELECT key_id, name, scopes, created_at, created_by, revoked_at, credential, cert_serial, cert_fingerprint,
              cert_not_after
         FROM verify_clients WHERE cert_fingerprint = ? AND credential = 'certificate'`,
  all: `SELECT key_id, name, scopes, created_at, created_by, revoked_at, credential, cert_serial, cert_fingerprint,
              cert_not_after
         FROM verify_clients ORDER BY id`,
} as const;

export function certificateClientParams(c: NewCertificateClient): unknown[] {
  return [
    c.keyId,
    c.keyHash,
    c.name,
    c.scopes.join(' '),
    c.createdAt,
    c.createdBy,
    c.fingerprint,
    c.serial,
    c.notAfter,
  ];
}

export class SqliteClientCertificateRepository implements ClientCertificateRepository {
  private readonly byFp;
  private readonly insertStatement;

  constructor(private readonly db: Database) {
    this.byFp = db.prepare<[string], CertificateClientRow>(clientCertificateSql.byFingerprint);
    this.insertStatement = db.prepare<unknown[], CertificateClientRow>(clientCertificateSql.insert);
  }

  async insert(c: NewCertificateClient): Promise<CertificateClientRow> {
    const row = this.insertStatement.get(...certificateClientParams(c));
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return row;
  }

  async byFingerprint(fingerprint256: string): Promise<CertificateClientRow | null> {
    return this.byFp.get(fingerprint256) ?? null;
  }

  async all(): Promise<CertificateClientRow[]> {
    // Prepared here, not with the others: the desk's list reads every row, the verify path never does.
    return this.db.prepare<[], CertificateClientRow>(clientCertificateSql.all).all();
  }
}

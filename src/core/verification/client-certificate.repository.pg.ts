import type { PgQueryable } from '../db/pg/pg-database';
import {
  certificateClientParams,
  clientCertificateSql,
  type CertificateClientRow,
  type ClientCertificateRepository,
  type NewCertificateClient,
} from './client-certificate.repository';

// Certificate clients on PostgreSQL (issue 12): SQLite's statements; the fingerprint is looked up on
// every request, so a revocation at any desk or instance is refused everywhere at the next one.

type Row = CertificateClientRow & Record<string, unknown>;

export class PgClientCertificateRepository implements ClientCertificateRepository {
  constructor(private readonly db: PgQueryable) {}

  async insert(c: NewCertificateClient): Promise<CertificateClientRow> {
    const [row] = await this.db.query<Row>(clientCertificateSql.insert, certificateClientParams(c));
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return row;
  }

  async byFingerprint(fingerprint256: string): Promise<CertificateClientRow | null> {
    const [row] = await this.db.query<Row>(clientCertificateSql.byFingerprint, [fingerprint256]);
    return row ?? null;
  }

  async all(): Promise<CertificateClientRow[]> {
    return this.db.query<Row>(clientCertificateSql.all);
  }
}

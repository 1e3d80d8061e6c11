import type { PgQueryable } from '../db/pg/pg-database';
import {
  verifyClientFromRow,
  type NewVerifyClient,
  type VerifyClientRecord,
  type VerifyClientRepository,
  type VerifyClientRow,
} from './verify-client.repository';

// The verification service's clients on PostgreSQL (issue 12): a key revoked through one instance
// is refused by every instance at its next lookup (no instance caches a verdict past a commit).

type Row = VerifyClientRow & Record<string, unknown>;

export class PgVerifyClientRepository implements VerifyClientRepository {
  constructor(private readonly db: PgQueryable) {}

  async insert(c: NewVerifyClient): Promise<VerifyClientRecord> {
    const [row] = await this.db.query<Row>(
      `INSERT INTO verify_clients (key_id, key_hash, name, scopes, created_at, created_by)
       VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      [c.keyId, c.keyHash, c.name, c.scopes.join(' '), c.createdAt, c.createdBy],
    );
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return verifyClientFromRow(row);
  }

  async byKeyId(keyId: string): Promise<VerifyClientRecord | null> {
    const [row] = await this.db.query<Row>('SELECT * FROM verify_clients WHERE key_id = ?', [keyId]);
    return row ? verifyClientFromRow(row) : null;
  }

  async all(): Promise<VerifyClientRecord[]> {
    return (await this.db.query<Row>('SELECT * FROM verify_clients ORDER BY id')).map(verifyClientFromRow);
  }

  async revoke(keyId: string, by: string, at: string): Promise<VerifyClientRecord | null> {
    const [row] = await this.db.query<Row>(
      `UPDATE verify_clients SET revoked_at = ?, revoked_by = ?
        WHERE key_id = ? AND revoked_at IS NULL RETURNING *`,
      [at, by, keyId],
    );
    return row ? verifyClientFromRow(row) : null;
  }
}

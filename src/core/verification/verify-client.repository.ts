import type { Database } from '../db/database';

// The clients of the verification service (migration 0011): who may call it and for what. Never
// the API key: its key id (to find the row) and SHA-256 of its secret. Async, portable SQL
// (docs/storage.md); revoking is a compare-and-set on revoked_at.

export const VERIFY_SCOPES = ['verify', 'challenge', 'read'] as const;
export type VerifyScope = (typeof VERIFY_SCOPES)[number];

export interface NewVerifyClient {
  readonly keyId: string;
  readonly keyHash: string;
  readonly name: string;
  readonly scopes: readonly VerifyScope[];
  readonly createdAt: string;
  readonly createdBy: string;
}

export interface VerifyClientRecord extends NewVerifyClient {
  readonly id: number;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
}

export interface VerifyClientRepository {
  insert(client: NewVerifyClient): Promise<VerifyClientRecord>;
  byKeyId(keyId: string): Promise<VerifyClientRecord | null>;
  all(): Promise<VerifyClientRecord[]>;
  /** Null when there is no such client or it was revoked already. */
  revoke(keyId: string, by: string, at: string): Promise<VerifyClientRecord | null>;
}

interface ClientRow {
  id: number;
  key_id: string;
  key_hash: string;
  name: string;
  scopes: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

const isScope = (s: string): s is VerifyScope => (VERIFY_SCOPES as readonly string[]).includes(s);

const fromRow = (r: ClientRow): VerifyClientRecord => ({
  id: r.id,
  keyId: r.key_id,
  keyHash: r.key_hash,
  name: r.name,
  scopes: r.scopes.split(' ').filter(isScope),
  createdAt: r.created_at,
  createdBy: r.created_by,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
});

export class SqliteVerifyClientRepository implements VerifyClientRepository {
  // Prepared once: every request of the service looks its key up.
  private readonly byKey;

  constructor(private readonly db: Database) {
    this.byKey = db.prepare<[string], ClientRow>('SELECT * FROM verify_clients WHERE key_id = ?');
  }

  async insert(c: NewVerifyClient): Promise<VerifyClientRecord> {
    const row = this.db
      .prepare<unknown[], ClientRow>(
        `INSERT INTO verify_clients (key_id, key_hash, name, scopes, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(c.keyId, c.keyHash, c.name, c.scopes.join(' '), c.createdAt, c.createdBy);
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return fromRow(row);
  }

  async byKeyId(keyId: string): Promise<VerifyClientRecord | null> {
    const row = this.byKey.get(keyId);
    return row ? fromRow(row) : null;
  }

  async all(): Promise<VerifyClientRecord[]> {
    return this.db.prepare<[], ClientRow>('SELECT * FROM verify_clients ORDER BY id').all().map(fromRow);
  }

  async revoke(keyId: string, by: string, at: string): Promise<VerifyClientRecord | null> {
    const row = this.db
      .prepare<[string, string, string], ClientRow>(
        `UPDATE verify_clients SET revoked_at = ?, revoked_by = ?
          WHERE key_id = ? AND revoked_at IS NULL RETURNING *`,
      )
      .get(at, by, keyId);
    return row ? fromRow(row) : null;
  }
}

/** For the PostgreSQL implementation beside this one (verify-client.repository.pg.ts). */
export { fromRow as verifyClientFromRow, type ClientRow as VerifyClientRow };

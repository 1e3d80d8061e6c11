import type { Database } from 'better-sqlite3';
import type { AuditEntry } from '../../shared/contract/audit.contract';
import { AppError } from '../errors';
import { auditEntryOf, auditQuerySql, type AuditFilter } from './audit-query';
import type { AuditRow } from './audit.service';
import type { AsyncAuditChainSource, AuditChainSource, CheckpointRow } from './audit-verify';

// The audit trail's read side and its signed checkpoints, on either engine (issue 12): what the
// Audit page, the verifier, the export and the checkpoint signer read and write besides appending.
// The SQL is shared by SqliteAuditStore and PgAuditStore (audit-store.pg.ts), so the engines
// cannot drift. The chain is read in pages by seq (keyset), never all at once: a log of millions
// of entries streams through the verifier on both engines.

export interface AuditPage {
  total: number;
  page: number;
  pageSize: number;
  entries: AuditEntry[];
}

export interface AuditKeyRecord {
  keyId: string;
  publicKeyPem: string;
}

export type ChainHead = Pick<AuditRow, 'seq' | 'hash'>;

/** A checkpoint to record: the signed (seq, hash) and the key that signed it. */
export interface NewCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly signature: string;
  readonly keyId: string;
  readonly publicKeyPem: string;
  readonly signedAt: string;
}

export interface AuditStore {
  /** The auditors' page: newest first, every filter optional. */
  query(filter: AuditFilter): Promise<AuditPage>;
  /** The newest committed entry, or null for an empty log. */
  head(): Promise<ChainHead | null>;
  /** The seq of the newest checkpoint, 0 before the first. */
  lastSignedSeq(): Promise<number>;
  /** Entries with after < seq <= upTo, in order (what the keystore checks before it moves its anchor). */
  entriesBetween(after: number, upTo: number): Promise<AuditRow[]>;
  /** The verifier's view: entries page by page, lookups after the walk, the recorded checkpoints. */
  chainSource(): AsyncAuditChainSource;
  checkpoints(): Promise<CheckpointRow[]>;
  /** The checkpoint recorded at `seq`, if any (at most one per seq). */
  checkpointAt(seq: number): Promise<CheckpointRow | null>;
  keys(): Promise<AuditKeyRecord[]>;
  /**
   * Records a checkpoint and its key's public half, at most one checkpoint per seq: when one is
   * already there (another desk signed the same head first) that one is returned with
   * `created: false` and nothing is written. Refused when the log has no entry `seq` with `hash`.
   */
  insertCheckpoint(cp: NewCheckpoint): Promise<{ checkpoint: CheckpointRow; created: boolean }>;
}

/** Entries per page when the chain is walked. */
export const CHAIN_PAGE = 1000;

/** The statements both engines run (`?` placeholders; PostgreSQL numbers them). */
export const auditSql = {
  head: 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
  lastSignedSeq: 'SELECT max(seq) AS seq FROM audit_checkpoints',
  between: 'SELECT * FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq',
  page: 'SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?',
  seqOfHash: 'SELECT seq FROM audit_log WHERE hash = ? ORDER BY seq LIMIT 1',
  nextSeq: 'SELECT min(seq) AS seq FROM audit_log WHERE seq > ?',
  checkpoints: 'SELECT * FROM audit_checkpoints ORDER BY seq, id',
  checkpointAt: 'SELECT * FROM audit_checkpoints WHERE seq = ? ORDER BY id LIMIT 1',
  keys: 'SELECT key_id, public_key_pem FROM audit_signing_keys ORDER BY added_at, key_id',
  insertKey:
    'INSERT INTO audit_signing_keys (key_id, public_key_pem, added_at) VALUES (?, ?, ?) ON CONFLICT (key_id) DO NOTHING',
  // Written only when no checkpoint holds this seq yet and the chain has this very entry committed:
  // the conditions and the insert are one statement, decided by the engine (on PostgreSQL inside a
  // SERIALIZABLE transaction, so two desks inserting at once cannot both see "none yet").
  insertCheckpoint: `INSERT INTO audit_checkpoints (seq, hash, signature, key_id, signed_at)
    SELECT ?, ?, ?, ?, ?
    WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE seq = ?)
      AND EXISTS (SELECT 1 FROM audit_log WHERE seq = ? AND hash = ?)
    RETURNING *`,
  insertCheckpointParams: (cp: NewCheckpoint) => [
    cp.seq,
    cp.hash,
    cp.signature,
    cp.keyId,
    cp.signedAt,
    cp.seq,
    cp.seq,
    cp.hash,
  ],
  insertKeyParams: (cp: NewCheckpoint) => [cp.keyId, cp.publicKeyPem, cp.signedAt],
} as const;

export const keyRecordOf = (k: { key_id: string; public_key_pem: string }): AuditKeyRecord => ({
  keyId: k.key_id,
  publicKeyPem: k.public_key_pem,
});

/** Why a checkpoint could not be recorded although none holds its seq: the entry it signs is not in the chain. */
export function checkpointNotInChain(cp: Pick<NewCheckpoint, 'seq'>): AppError {
  return new AppError(
    'AUDIT_CHECKPOINT_REFUSED',
    `The checkpoint for entry #${cp.seq} was not recorded: the audit log has no such entry with the signed hash. Verify the audit log on the Audit page.`,
  );
}

export class SqliteAuditStore implements AuditStore {
  constructor(private readonly db: Database) {}

  async query(f: AuditFilter): Promise<AuditPage> {
    const q = auditQuerySql(f);
    const total = (this.db.prepare(q.count).get(...q.params) as { n: number }).n;
    const rows = this.db.prepare(q.page).all(...q.params, ...q.pageParams) as AuditRow[];
    return { total, page: f.page, pageSize: f.pageSize, entries: rows.map(auditEntryOf) };
  }

  async head(): Promise<ChainHead | null> {
    return (this.db.prepare(auditSql.head).get() as ChainHead | undefined) ?? null;
  }

  async lastSignedSeq(): Promise<number> {
    return (this.db.prepare(auditSql.lastSignedSeq).get() as { seq: number | null }).seq ?? 0;
  }

  async entriesBetween(after: number, upTo: number): Promise<AuditRow[]> {
    return this.db.prepare(auditSql.between).all(after, upTo) as AuditRow[];
  }

  chainSource(): AsyncAuditChainSource {
    const sync = sqliteChainSource(this.db);
    return {
      // Pages, not one open cursor: better-sqlite3 refuses other statements on the connection
      // while an iterator is open, and other handlers run between two awaits of the walk.
      entries: () => pagedEntries(async (after) => this.db.prepare(auditSql.page).all(after, CHAIN_PAGE) as AuditRow[]),
      seqOfHash: async (hash) => sync.seqOfHash(hash),
      nextSeq: async (after) => sync.nextSeq(after),
      checkpoints: async () => this.checkpoints(),
    };
  }

  async checkpoints(): Promise<CheckpointRow[]> {
    return this.db.prepare(auditSql.checkpoints).all() as CheckpointRow[];
  }

  async checkpointAt(seq: number): Promise<CheckpointRow | null> {
    return (this.db.prepare(auditSql.checkpointAt).get(seq) as CheckpointRow | undefined) ?? null;
  }

  async keys(): Promise<AuditKeyRecord[]> {
    return (this.db.prepare(auditSql.keys).all() as { key_id: string; public_key_pem: string }[]).map(keyRecordOf);
  }

  async insertCheckpoint(cp: NewCheckpoint): Promise<{ checkpoint: CheckpointRow; created: boolean }> {
    return this.db.transaction(() => {
      const row = this.db.prepare(auditSql.insertCheckpoint).get(...auditSql.insertCheckpointParams(cp)) as
        CheckpointRow | undefined;
      if (row) {
        this.db.prepare(auditSql.insertKey).run(...auditSql.insertKeyParams(cp));
        return { checkpoint: row, created: true };
      }
      const existing = this.db.prepare(auditSql.checkpointAt).get(cp.seq) as CheckpointRow | undefined;
      if (!existing) throw checkpointNotInChain(cp);
      return { checkpoint: existing, created: false };
    })();
  }
}

/** Walks the chain in keyset pages of CHAIN_PAGE entries, each page one query. */
export async function* pagedEntries(page: (after: number) => Promise<AuditRow[]>): AsyncGenerator<AuditRow> {
  let after = 0;
  for (;;) {
    const rows = await page(after);
    yield* rows;
    const last = rows[rows.length - 1];
    if (!last || rows.length < CHAIN_PAGE) return;
    after = last.seq;
  }
}

/**
 * The synchronous verifier's view of a SQLite file (the CLI opens one read-only, tests check a desk's
 * file). Keys are never taken from it: the verifier is given the ones it trusts.
 */
export function sqliteChainSource(db: Database): AuditChainSource {
  return {
    entries: () => db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<AuditRow>,
    seqOfHash: (hash) => (db.prepare(auditSql.seqOfHash).get(hash) as { seq: number } | undefined)?.seq,
    nextSeq: (after) => (db.prepare(auditSql.nextSeq).get(after) as { seq: number | null }).seq ?? undefined,
    checkpoints: () => db.prepare(auditSql.checkpoints).all() as CheckpointRow[],
  };
}

import type { Database } from 'better-sqlite3';
import { AppError } from '../errors';
import type { Logger } from '../log';
import type { AuditSigner } from './audit-signer';
import type { AuditRow, AuditService } from './audit.service';
import { checkpointMessage, type AuditChainSource, type CheckpointRow } from './audit-verify';

/**
 * Signs the head of the audit chain every N entries (N from policy) and on demand, and records
 * each signing key's public half so old checkpoints stay checkable after the key changes.
 */
export class AuditCheckpointService {
  constructor(
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly signer: () => AuditSigner | null,
    private readonly every: () => number,
    private readonly log: Logger,
  ) {}

  /** Hooks the every-N signing into each append. */
  start(): () => void {
    return this.audit.onAppend((row) => this.afterAppend(row));
  }

  /** Signs the newest entry now. Throws when no audit key is available or the log is empty. */
  checkpointNow(): CheckpointRow {
    const signer = this.signer();
    if (!signer) {
      throw new AppError('AUDIT_KEY_UNAVAILABLE', 'The audit signing key is not available. Unlock the keystore and try again.');
    }
    const head = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
      | Pick<AuditRow, 'seq' | 'hash'>
      | undefined;
    if (!head) throw new AppError('AUDIT_EMPTY', 'The audit log has no entries to sign yet.');
    return this.sign(signer, head);
  }

  checkpoints(): CheckpointRow[] {
    return this.db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq, id').all() as CheckpointRow[];
  }

  keys(): { keyId: string; publicKeyPem: string }[] {
    return (
      this.db.prepare('SELECT key_id, public_key_pem FROM audit_signing_keys ORDER BY added_at').all() as {
        key_id: string;
        public_key_pem: string;
      }[]
    ).map((k) => ({ keyId: k.key_id, publicKeyPem: k.public_key_pem }));
  }

  private afterAppend(row: AuditRow): void {
    const last = this.db.prepare('SELECT max(seq) AS seq FROM audit_checkpoints').get() as { seq: number | null };
    if (row.seq - (last.seq ?? 0) < this.every()) return;
    const signer = this.signer();
    if (!signer) return; // signed at the next interval or on demand, covering these entries too
    try {
      this.sign(signer, row);
    } catch (err) {
      // A signing fault must never lose the audit entry itself.
      this.log.warn('audit checkpoint not signed', { seq: row.seq, error: err instanceof Error ? err.name : 'unknown' });
    }
  }

  private sign(signer: AuditSigner, head: Pick<AuditRow, 'seq' | 'hash'>): CheckpointRow {
    const keyId = signer.keyId();
    const signedAt = new Date().toISOString();
    const signature = signer.sign(checkpointMessage({ seq: head.seq, hash: head.hash, key_id: keyId, signed_at: signedAt }));
    return this.db.transaction(() => {
      this.db
        .prepare('INSERT OR IGNORE INTO audit_signing_keys (key_id, public_key_pem, added_at) VALUES (?, ?, ?)')
        .run(keyId, signer.publicKeyPem(), signedAt);
      const info = this.db
        .prepare('INSERT INTO audit_checkpoints (seq, hash, signature, key_id, signed_at) VALUES (?, ?, ?, ?, ?)')
        .run(head.seq, head.hash, signature.toString('base64'), keyId, signedAt);
      return { id: Number(info.lastInsertRowid), seq: head.seq, hash: head.hash, signature: signature.toString('base64'), key_id: keyId, signed_at: signedAt };
    })();
  }
}

/**
 * The verifier's view of a database. Keys come from `trusted` when given (an independent copy of the
 * public key); otherwise from the keys recorded in the database, which an attacker with the file could replace.
 */
export function dbChainSource(db: Database, trusted?: ReadonlyMap<string, string>): AuditChainSource {
  return {
    entries: () => db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<AuditRow>,
    seqOfHash: (hash) => (db.prepare('SELECT seq FROM audit_log WHERE hash = ? LIMIT 1').get(hash) as { seq: number } | undefined)?.seq,
    nextSeq: (after) => (db.prepare('SELECT min(seq) AS seq FROM audit_log WHERE seq > ?').get(after) as { seq: number | null }).seq ?? undefined,
    checkpoints: () => db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq, id').all() as CheckpointRow[],
    publicKeyPem: (keyId) =>
      trusted
        ? trusted.get(keyId)
        : (db.prepare('SELECT public_key_pem FROM audit_signing_keys WHERE key_id = ?').get(keyId) as { public_key_pem: string } | undefined)
            ?.public_key_pem,
  };
}

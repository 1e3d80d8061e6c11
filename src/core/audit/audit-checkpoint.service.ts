import type { Database } from 'better-sqlite3';
import { AppError, isAppError } from '../errors';
import type { Logger } from '../log';
import type { AuditSigner, AuditSignerSource } from './audit-signer';
import type { AuditRow, AuditService } from './audit.service';
import { checkpointMessage, type AuditChainSource, type CheckpointRow } from './audit-verify';

/**
 * Signs the head of the audit chain every N entries (N from policy) and on demand, and records
 * each signing key's public half so old checkpoints stay checkable after the key changes.
 *
 * Signing is asynchronous (the audit key lives in the keystore, maybe on an HSM), so the append hook
 * only schedules it: an append never waits for, nor fails because of, a signature. Jobs run one at a
 * time in a queue. While no signer is available (keystore locked) a due checkpoint waits; `signDue()`
 * on unlock signs it. Until then the chain alone protects the newest entries (verification reports
 * them as `unsignedTail`).
 */
export class AuditCheckpointService {
  private tail: Promise<unknown> = Promise.resolve();
  private scheduled = false;
  /** After a failed signature, automatic signing waits for the next interval instead of retrying on every append. */
  private retryAt: number | null = null;

  constructor(
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly signer: AuditSignerSource,
    private readonly every: () => number,
    private readonly log: Logger,
  ) {}

  /** Hooks the every-N scheduling into each append. */
  start(): () => void {
    return this.audit.onAppend((row) => this.afterAppend(row));
  }

  /** Signs the newest entry now, after any signing already queued. Throws when no audit key is available or the log is empty. */
  checkpointNow(): Promise<CheckpointRow> {
    return this.enqueue(async () => {
      const signer = await this.signer();
      if (!signer) {
        throw new AppError(
          'AUDIT_KEY_UNAVAILABLE',
          'The audit key is in the keystore, which is locked. A security officer must unlock it on the Keys page; then try again.',
        );
      }
      const head = this.head();
      if (!head) throw new AppError('AUDIT_EMPTY', 'The audit log has no entries to sign yet.');
      return this.sign(signer, head);
    });
  }

  /** Signs the checkpoint that came due while no signer was available (call on keystore unlock). Never rejects. */
  signDue(): Promise<void> {
    this.retryAt = null;
    return this.schedule();
  }

  /**
   * Runs `job` between two signatures, never during one: the keystore moves its anchor before the
   * checkpoint row is written, so a verification in between would miss that checkpoint.
   */
  exclusive<T>(job: () => Promise<T>): Promise<T> {
    return this.enqueue(job);
  }

  /** Settles when every queued signature is written or has failed (shutdown, tests). */
  idle(): Promise<void> {
    return this.tail.then(
      () => undefined,
      () => undefined,
    );
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

  // Runs inside the append's transaction: only cheap reads here, and nothing that can throw into it.
  private afterAppend(row: AuditRow): void {
    try {
      if (this.scheduled || (this.retryAt !== null && row.seq < this.retryAt)) return;
      if (row.seq - this.lastSignedSeq() < this.every()) return;
      void this.schedule();
    } catch (err) {
      this.log.warn('audit checkpoint not scheduled', { seq: row.seq, error: errorName(err) });
    }
  }

  private schedule(): Promise<void> {
    if (this.scheduled) return this.idle();
    this.scheduled = true;
    return this.enqueue(() => this.signIfDue()).catch((err: unknown) => {
      this.log.warn('audit checkpoint not signed', { error: errorName(err) });
    });
  }

  /** The queued job: re-checks the interval against the database, since another job may have signed meanwhile. */
  private async signIfDue(): Promise<void> {
    this.scheduled = false;
    const head = this.head();
    if (!head || head.seq - this.lastSignedSeq() < this.every()) return;
    try {
      const signer = await this.signer();
      if (!signer) return; // no audit key now (keystore locked): signDue() signs it on unlock
      await this.sign(signer, head);
      this.retryAt = null;
    } catch (err) {
      // The entries stay protected by the chain; the next interval (or the next unlock) tries again.
      this.retryAt = head.seq + this.every();
      this.log.warn('audit checkpoint not signed; retried at the next checkpoint', {
        seq: head.seq,
        error: errorName(err),
      });
    }
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job, job);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private head(): Pick<AuditRow, 'seq' | 'hash'> | undefined {
    return this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
      Pick<AuditRow, 'seq' | 'hash'> | undefined;
  }

  private lastSignedSeq(): number {
    return (this.db.prepare('SELECT max(seq) AS seq FROM audit_checkpoints').get() as { seq: number | null }).seq ?? 0;
  }

  private async sign(signer: AuditSigner, head: Pick<AuditRow, 'seq' | 'hash'>): Promise<CheckpointRow> {
    const signedAt = new Date().toISOString();
    const { keyId, signature } = await this.signature(signer, head, signedAt);
    return this.db.transaction(() => {
      this.db
        .prepare('INSERT OR IGNORE INTO audit_signing_keys (key_id, public_key_pem, added_at) VALUES (?, ?, ?)')
        .run(keyId, signer.publicKeyPem(), signedAt);
      const info = this.db
        .prepare('INSERT INTO audit_checkpoints (seq, hash, signature, key_id, signed_at) VALUES (?, ?, ?, ?, ?)')
        .run(head.seq, head.hash, signature, keyId, signedAt);
      return {
        id: Number(info.lastInsertRowid),
        seq: head.seq,
        hash: head.hash,
        signature,
        key_id: keyId,
        signed_at: signedAt,
      };
    })();
  }

  /** With the keystore: the entries since its anchor go along, so it can check they lead from it to the head. */
  private async signature(
    signer: AuditSigner,
    head: Pick<AuditRow, 'seq' | 'hash'>,
    signedAt: string,
  ): Promise<{ keyId: string; signature: string }> {
    if (!signer.anchored) {
      const keyId = signer.keyId();
      const sig = await signer.sign(
        checkpointMessage({ seq: head.seq, hash: head.hash, key_id: keyId, signed_at: signedAt }),
      );
      return { keyId, signature: sig.toString('base64') };
    }
    const from = (await signer.anchored.anchorSeq()) ?? head.seq;
    // Read after the await, still before the next: the queue runs one signature at a time and appends never change old rows.
    const since = this.db
      .prepare('SELECT * FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq')
      .all(from, head.seq) as AuditRow[];
    const signed = await signer.anchored.signCheckpoint({ seq: head.seq, hash: head.hash, signedAt }, since);
    return { keyId: signed.keyId, signature: signed.signature.toString('base64') };
  }
}

function errorName(err: unknown): string {
  if (isAppError(err)) return err.code;
  return err instanceof Error ? err.name : 'unknown';
}

/** The verifier's view of a database. Keys are never taken from it: the verifier is given the ones it trusts. */
export function dbChainSource(db: Database): AuditChainSource {
  return {
    entries: () => db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<AuditRow>,
    seqOfHash: (hash) =>
      (db.prepare('SELECT seq FROM audit_log WHERE hash = ? LIMIT 1').get(hash) as { seq: number } | undefined)?.seq,
    nextSeq: (after) =>
      (db.prepare('SELECT min(seq) AS seq FROM audit_log WHERE seq > ?').get(after) as { seq: number | null }).seq ??
      undefined,
    checkpoints: () => db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq, id').all() as CheckpointRow[],
  };
}

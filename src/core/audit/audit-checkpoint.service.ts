import { AppError, isAppError } from '../errors';
import type { Logger } from '../log';
import type { AuditSigner, AuditSignerSource } from './audit-signer';
import type { AuditKeyRecord, AuditStore, ChainHead } from './audit-store';
import type { AuditRow, AuditTrail } from './audit.service';
import { checkpointMessage, type CheckpointRow } from './audit-verify';

/**
 * Signs the head of the audit chain every N entries (N from policy) and on demand, and records
 * each signing key's public half so old checkpoints stay checkable after the key changes.
 *
 * Signing is asynchronous (the audit key lives in the keystore, maybe on an HSM), so the append hook
 * only schedules it: an append never waits for, nor fails because of, a signature. Jobs run one at a
 * time in a queue. While no signer is available (keystore locked) a due checkpoint waits; `signDue()`
 * on unlock signs it. Until then the chain alone protects the newest entries (verification reports
 * them as `unsignedTail`).
 *
 * With several desks on one PostgreSQL each desk runs its own queue: a checkpoint signs the newest
 * committed (seq, hash), and the store records at most one checkpoint per seq — a desk that signed
 * the same head as another a moment later gets the other's checkpoint back (docs/audit.md).
 */
export class AuditCheckpointService {
  private tail: Promise<unknown> = Promise.resolve();
  private scheduled = false;
  /** After a failed signature, automatic signing waits for the next interval instead of retrying on every append. */
  private retryAt: number | null = null;
  /** The newest checkpoint seen here; the queued job re-reads the store before it signs. */
  private lastSigned = 0;

  constructor(
    private readonly store: AuditStore,
    private readonly audit: AuditTrail,
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
      const head = await this.store.head();
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

  checkpoints(): Promise<CheckpointRow[]> {
    return this.store.checkpoints();
  }

  keys(): Promise<AuditKeyRecord[]> {
    return this.store.keys();
  }

  // On SQLite this runs inside the append's transaction: no database read here (the store is async),
  // and nothing that can throw into it. The job re-checks against the store.
  private afterAppend(row: AuditRow): void {
    try {
      if (this.scheduled || (this.retryAt !== null && row.seq < this.retryAt)) return;
      if (row.seq - this.lastSigned < this.every()) return;
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
    const head = await this.store.head();
    this.lastSigned = await this.store.lastSignedSeq();
    if (!head || head.seq - this.lastSigned < this.every()) return;
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

  private async sign(signer: AuditSigner, head: ChainHead): Promise<CheckpointRow> {
    // Another desk may have signed this very head meanwhile (PostgreSQL): nothing to add, and the
    // keystore's anchor is not moved for a checkpoint that would not be recorded.
    const signed = await this.store.checkpointAt(head.seq);
    if (signed) return signed;
    const signedAt = new Date().toISOString();
    const { keyId, signature } = await this.signature(signer, head, signedAt);
    const { checkpoint } = await this.store.insertCheckpoint({
      seq: head.seq,
      hash: head.hash,
      signature,
      keyId,
      publicKeyPem: signer.publicKeyPem(),
      signedAt,
    });
    this.lastSigned = Math.max(this.lastSigned, checkpoint.seq);
    return checkpoint;
  }

  /** With the keystore: the entries since its anchor go along, so it can check they lead from it to the head. */
  private async signature(
    signer: AuditSigner,
    head: ChainHead,
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
    // The queue runs one signature at a time on this desk, and appends never change old rows.
    const since = await this.store.entriesBetween(from, head.seq);
    const signed = await signer.anchored.signCheckpoint({ seq: head.seq, hash: head.hash, signedAt }, since);
    return { keyId: signed.keyId, signature: signed.signature.toString('base64') };
  }
}

function errorName(err: unknown): string {
  if (isAppError(err)) return err.code;
  return err instanceof Error ? err.name : 'unknown';
}

/** The synchronous verifier's view of a SQLite file (audit-store.ts). */
export { sqliteChainSource as dbChainSource } from './audit-store';

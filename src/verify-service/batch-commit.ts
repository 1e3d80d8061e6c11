import type { Database } from '../core/db/database';

// Group commit, the transaction half (docs/verification-service.md "Durability"; wal-sync.ts is the
// fsync half). Each verification used to be its own transaction: at 32 concurrent clients that is 32
// commits per fsync, each appending its own copies of the same pages (the list row, the use index)
// to the WAL. Here the verifications that start in one turn of the event loop share ONE transaction:
// the first opens it (BEGIN IMMEDIATE), the others join (a repository's own transaction becomes a
// savepoint inside it), and it commits once every one of them has finished, on the next setImmediate
// after the turn's I/O. Only then do their promises resolve; the caller then awaits the WAL fsync
// (WalSync.durable, started after this commit) before answering, so no answer comes before its use
// mark is on disk. If the commit fails, it is rolled back and every verification of the batch fails
// (the service answers 500: no code of that batch was used).
//
// Exactly once still holds: the batch runs on one connection in one process, its verifications one
// after the other (the event loop), each use mark a conditional UPDATE that sees the batch's earlier
// writes; another process waits for the write lock (busy_timeout) as before.

export class BatchCommit {
  private open = false;
  private running = 0;
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;
  /** Transactions committed and verifications in them (metrics, tests). */
  batches = 0;
  members = 0;

  constructor(private readonly db: Database) {}

  readonly run = async <T>(work: () => Promise<T>): Promise<T> => {
    if (!this.open) {
      this.db.exec('BEGIN IMMEDIATE');
      this.open = true;
    }
    this.running++;
    this.members++;
    let result: T;
    try {
      result = await work();
    } finally {
      this.running--;
      this.schedule();
    }
    await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    return result;
  };

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // A member still working (waiting on a per-card predecessor): commit on a later turn.
      if (this.running > 0) return this.schedule();
      this.commit();
    });
  }

  private commit(): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (!this.open) return waiters.forEach((w) => w.resolve());
    this.open = false;
    try {
      this.db.exec('COMMIT');
      this.batches++;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      return waiters.forEach((w) => w.reject(err));
    }
    waiters.forEach((w) => w.resolve());
  }
}

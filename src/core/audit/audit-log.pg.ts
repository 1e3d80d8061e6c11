import type { Isolation, PgDatabase, PgQueryable, PgTransactor } from '../db/pg/pg-database';
import { entryHash, GENESIS_HASH, type AuditEntryInput, type AuditRow, type AuditTrail } from './audit.service';

// The audit trail on PostgreSQL with many writers (issue 12 item 2): desks and verification
// instances append to one hash chain. Each append locks the one-row chain head (audit_head) in the
// caller's transaction, reads the newest seq and hash from it — after waiting for another writer,
// READ COMMITTED's row lock returns that writer's committed head — and inserts the entry, which
// moves the head to it (migration 0023: the table's triggers refuse an entry that does not continue
// the head and any other move of the head, whoever's login tries). The entry thus commits or rolls
// back with the change it records, and entries from different desks line up in commit order with
// no gap and no fork.

interface HeadRow {
  seq: number;
  hash: string;
}

export class PgAuditLog {
  constructor(
    private readonly db: PgDatabase,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Appends inside the caller's transaction `tx` (it holds the head's lock until it ends). */
  async appendIn(tx: PgQueryable, entry: AuditEntryInput): Promise<AuditRow> {
    const [head] = await tx.query<HeadRow & Record<string, unknown>>(
      'SELECT seq, hash FROM audit_head WHERE only_row = 1 FOR UPDATE',
    );
    if (!head) throw new Error('audit_head has no row: the PostgreSQL schema is incomplete');
    const base = {
      seq: head.seq + 1,
      at: this.clock().toISOString(),
      operator_id: entry.operatorId,
      operator: entry.operator,
      role: entry.role,
      action: entry.action,
      object: entry.object ?? null,
      outcome: entry.outcome,
      details: JSON.stringify(entry.details ?? {}),
      prev_hash: head.seq === 0 ? GENESIS_HASH : head.hash,
    };
    const row: AuditRow = { ...base, hash: entryHash(base) };
    await tx.query(
      `INSERT INTO audit_log (seq, at, operator_id, operator, role, action, object, outcome, details, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.seq,
        row.at,
        row.operator_id,
        row.operator,
        row.role,
        row.action,
        row.object,
        row.outcome,
        row.details,
        row.prev_hash,
        row.hash,
      ],
    );
    // The insert moved the head to this entry (migration 0023's trigger, the only way it moves).
    return row;
  }

  /** An entry on its own (no other change to commit with it). */
  append(entry: AuditEntryInput): Promise<AuditRow> {
    return this.db.transaction((tx) => this.appendIn(tx, entry), 'read committed');
  }

  /** Every entry in chain order, for the verifier. */
  async entries(): Promise<AuditRow[]> {
    return this.db.query<AuditRow & Record<string, unknown>>('SELECT * FROM audit_log ORDER BY seq');
  }
}

/**
 * The audit trail features write to (`AuditTrail`) on PostgreSQL: each entry its own transaction,
 * chained after whatever any other desk or instance committed. Listeners run once the entry is
 * committed, in the caller's async context (the router's refusal scope sees them). A change that must
 * commit with its entries runs in `transaction` (operators, policy versions, and the units of work of
 * `IssuerRepositories.atomically`), which announces them after COMMIT as the entries appended here are.
 */
export class PgAuditTrail implements AuditTrail {
  private readonly listeners = new Set<(row: AuditRow) => void>();

  constructor(readonly log: PgAuditLog) {}

  async append(entry: AuditEntryInput): Promise<void> {
    this.announce([await this.log.append(entry)]);
  }

  /** Tells the listeners (the router's refusal scope, the every-N checkpoint) about committed entries. */
  announce(rows: readonly AuditRow[]): void {
    for (const row of rows) for (const listener of this.listeners) listener(row);
  }

  /**
   * `work` in one transaction of `db` (a pool: its transactions commit), its entries appended on it
   * through `append`; the rows the attempt that committed appended are announced after COMMIT, in
   * chain order. An attempt run again after a serialisation failure, or rolled back, announces nothing.
   */
  async transaction<T>(
    db: PgTransactor,
    work: (tx: PgQueryable, append: (entry: AuditEntryInput) => Promise<void>) => Promise<T>,
    isolation?: Isolation,
  ): Promise<T> {
    const { value, rows } = await db.transaction(async (tx) => {
      const rows: AuditRow[] = []; // afresh on every attempt
      const value = await work(tx, async (entry) => void rows.push(await this.log.appendIn(tx, entry)));
      return { value, rows };
    }, isolation);
    this.announce(rows);
    return value;
  }

  onAppend(listener: (row: AuditRow) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { Role } from '../../shared/roles';

export type AuditOutcome = 'ok' | 'denied' | 'failed';
export type AuditDetails = Readonly<Record<string, string | number | boolean | null>>;

export interface AuditActor {
  readonly operatorId: number | null;
  readonly operator: string | null;
  readonly role: Role | null;
}

export interface AuditEntryInput extends AuditActor {
  readonly action: string;
  readonly object?: string | null;
  readonly outcome: AuditOutcome;
  readonly details?: AuditDetails;
}

export interface AuditRow {
  seq: number;
  at: string;
  operator_id: number | null;
  operator: string | null;
  role: string | null;
  action: string;
  object: string | null;
  outcome: AuditOutcome;
  details: string;
  prev_hash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
export const SYSTEM_ACTOR: AuditActor = { operatorId: null, operator: null, role: null };

/**
 * The hash of one entry covers every field and the previous entry's hash, so editing,
 * deleting, inserting or reordering any row breaks the chain from there on.
 */
export function entryHash(row: Omit<AuditRow, 'hash'>): string {
  const canonical = JSON.stringify([
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
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The audit trail as every feature writes it, on either engine (docs/storage.md): one entry
 * appended, settled once it is committed. Callers never put keys, codes, PINs or passkeys in
 * details, and await the append (on PostgreSQL it is a round trip; on SQLite it is written before
 * `append` returns its promise, so entries keep the order of the calls).
 */
export interface AuditTrail {
  append(entry: AuditEntryInput): Promise<void>;
  onAppend(listener: (row: AuditRow) => void): () => void;
}

/**
 * The audit trail in the desk's SQLite file. `appendSync` is for code that already holds a SQLite
 * transaction and must record its change inside it (operators, policies, checkpoints).
 */
export class AuditService implements AuditTrail {
  private readonly last;
  private readonly insert;
  private readonly listeners = new Set<(row: AuditRow) => void>();

  constructor(
    private readonly db: Database,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.last = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.insert = db.prepare(
      `INSERT INTO audit_log (seq, at, operator_id, operator, role, action, object, outcome, details, prev_hash, hash)
       VALUES (@seq, @at, @operator_id, @operator, @role, @action, @object, @outcome, @details, @prev_hash, @hash)`,
    );
  }

  /** Written synchronously (before the promise is returned), so entries keep the order of the calls. */
  async append(entry: AuditEntryInput): Promise<void> {
    this.appendSync(entry);
  }

  /** Appends one entry inside the caller's transaction if there is one (better-sqlite3 nests as savepoints). */
  appendSync(entry: AuditEntryInput): AuditRow {
    return this.db.transaction(() => {
      const prev = this.last.get() as { seq: number; hash: string } | undefined;
      const base = {
        seq: (prev?.seq ?? 0) + 1,
        at: this.clock().toISOString(),
        operator_id: entry.operatorId,
        operator: entry.operator,
        role: entry.role,
        action: entry.action,
        object: entry.object ?? null,
        outcome: entry.outcome,
        details: JSON.stringify(entry.details ?? {}),
        prev_hash: prev?.hash ?? GENESIS_HASH,
      };
      const row: AuditRow = { ...base, hash: entryHash(base) };
      this.insert.run(row);
      for (const listener of this.listeners) listener(row);
      return row;
    })();
  }

  onAppend(listener: (row: AuditRow) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

import type { Database } from 'better-sqlite3';
import type { Role } from '../../shared/roles';
import type { AuditEntryInput, AuditService } from '../audit/audit.service';
import { StatementCache } from '../db/statement-cache';

// The operators table behind one async interface on both engines (issue 12): SQLite here,
// PostgreSQL in operator.repository.pg.ts, both running the statements of `operatorSql`. Every
// changing method is one transaction that also writes its audit entries, so a change and its entry
// commit together or not at all. Concurrent desks cannot both win: the counters and the own-password
// change are single compare-and-set statements; the admin changes read the row (and the enabled
// security officers) and write in one transaction that serialises writers (SQLite: BEGIN IMMEDIATE;
// PostgreSQL: SERIALIZABLE with the row locked, run again when the engine reports a conflict).

export interface OperatorRow {
  id: number;
  username: string;
  display_name: string;
  role: Role;
  password_hash: string;
  failed_attempts: number;
  locked_at: string | null;
  /** End of the current lockout in ms since the epoch; the account is locked while it lies ahead. */
  locked_until: number | null;
  /** Lockouts in a row without a successful sign-in between them; each lasts twice as long. */
  lockout_count: number;
  disabled_at: string | null;
  must_change_password: number;
  /** The operator who set the current password (their own id when they chose it); NULL if unknown. */
  password_set_by: number | null;
  password_set_at: string | null;
  /**
   * Moved on (by one, in the changing statement) by every change that ends the operator's sessions:
   * any administrative change, a sign-in lockout, their own password change. A session keeps the
   * value it began with; once the row holds another, the router ends it at whichever desk it lives,
   * even when the change was undone meanwhile (disabled then enabled, locked then unlocked).
   */
  session_epoch: number;
  created_at: string;
  updated_at: string;
}

export interface NewOperator {
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
  readonly passwordHash: string;
  readonly mustChange: boolean;
  /** The operator who chose the password; omitted, the new operator chose it themselves. */
  readonly setBy?: number;
}

/** The columns an administrative change may set. */
export type OperatorFields = Partial<
  Pick<
    OperatorRow,
    | 'role'
    | 'disabled_at'
    | 'password_hash'
    | 'must_change_password'
    | 'password_set_by'
    | 'password_set_at'
    | 'locked_at'
    | 'locked_until'
    | 'failed_attempts'
  >
>;
const FIELD_COLUMNS: readonly (keyof OperatorFields)[] = [
  'role',
  'disabled_at',
  'password_hash',
  'must_change_password',
  'password_set_by',
  'password_set_at',
  'locked_at',
  'locked_until',
  'failed_attempts',
];

/** What a change decides from the row as it is inside the transaction. */
export interface OperatorWriteContext {
  /** Ids of the enabled security officers, read in the same transaction. */
  readonly enabledOfficers: readonly number[];
}

export interface OperatorChange {
  readonly fields: OperatorFields;
  /** Written in the same transaction as the change. */
  readonly entries: readonly AuditEntryInput[];
}

export interface LockoutRule {
  readonly now: number;
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

export interface FailureCount {
  readonly attempts: number;
  readonly lockedUntil: number | null;
  readonly lockouts: number;
}

export interface OperatorRepository {
  count(): Promise<number>;
  /** Case-insensitive, as user names are unique regardless of case. */
  byUsername(username: string): Promise<OperatorRow | undefined>;
  /** The row by primary key: the router reads it on every call (one indexed read). */
  byId(id: number): Promise<OperatorRow | undefined>;
  all(): Promise<OperatorRow[]>;
  /** Ids of the enabled security officers. */
  enabledOfficers(): Promise<number[]>;
  /**
   * First run: inserts the operator only while the table is empty, with `entry(id)`; null when
   * another desk got there first (nothing written).
   */
  createFirst(op: NewOperator, entry: (id: number) => AuditEntryInput): Promise<OperatorRow | null>;
  /**
   * Inserts an operator after `decide` (given whether the name is taken and the enabled officers,
   * read in the transaction) returned the audit entries; `decide` throwing writes nothing.
   */
  create(
    op: NewOperator,
    decide: (ctx: OperatorWriteContext & { readonly taken: boolean }) => readonly AuditEntryInput[],
  ): Promise<OperatorRow>;
  /**
   * One administrative change: `decide` sees the row (undefined: gone) as it is in the transaction,
   * throws to refuse, or returns the fields to set and the entries to write. It must be free of
   * effects outside its answer but for idempotent ones: on PostgreSQL it may run again. Every change
   * moves the session epoch on: the operator's sessions end at every desk.
   */
  change(
    id: number,
    decide: (op: OperatorRow | undefined, ctx: OperatorWriteContext) => OperatorChange,
  ): Promise<OperatorRow>;
  /**
   * Counts one wrong password and locks the account when the count reaches `maxAttempts`, in one
   * statement, so concurrent attempts from any desk can neither lose a count nor lock twice. An
   * expired lockout starts the count afresh; a new lockout lasts baseMs doubled per earlier lockout
   * in a row, at most maxMs. `entries` (given the new count) are written with it. Answers
   * undefined, counting and writing nothing, while the account is locked. A lockout moves the
   * session epoch on (the operator's sessions end, and stay ended after it expires).
   */
  countFailure(
    id: number,
    rule: LockoutRule,
    entries: (c: FailureCount) => readonly AuditEntryInput[],
  ): Promise<FailureCount | undefined>;
  /** After a right password: clears the count and any expired lockout. False when the account is locked now. */
  clearFailures(id: number, now: number): Promise<boolean>;
  /**
   * The operator's own password change: only while the stored hash is still `expectedHash` and the
   * account is neither disabled nor locked at `now`; the owner becomes its setter and the session
   * epoch moves on (the caller carries its own session over to the new value). `entries` are built
   * once the row changed and written with it. The row after, or null (nothing written).
   */
  changeOwnPassword(
    id: number,
    expectedHash: string,
    nextHash: string,
    now: number,
    entries: () => readonly AuditEntryInput[],
  ): Promise<OperatorRow | null>;
}

/**
 * The statements both engines run. User names match case-insensitively: SQLite by the column's
 * NOCASE collation (its index), PostgreSQL by its unique index on lower(username).
 */
export const operatorSql = {
  count: 'SELECT count(*) AS n FROM operators',
  bySqliteUsername: 'SELECT * FROM operators WHERE username = ?',
  byPgUsername: 'SELECT * FROM operators WHERE lower(username) = lower(?)',
  byId: 'SELECT * FROM operators WHERE id = ?',
  all: 'SELECT * FROM operators ORDER BY username',
  enabledOfficers: "SELECT id FROM operators WHERE role = 'security_officer' AND disabled_at IS NULL ORDER BY id",
  insert: `INSERT INTO operators (username, display_name, role, password_hash, must_change_password, password_set_by, password_set_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  insertParams(op: NewOperator, now: string): unknown[] {
    return [
      op.username,
      op.displayName,
      op.role,
      op.passwordHash,
      op.mustChange ? 1 : 0,
      op.setBy ?? null,
      now,
      now,
      now,
    ];
  },
  setOwnSetter: 'UPDATE operators SET password_set_by = id WHERE id = ?',
  update(fields: OperatorFields): { sql: string; params: unknown[] } {
    const keys = (Object.keys(fields) as (keyof OperatorFields)[]).filter((k) => FIELD_COLUMNS.includes(k));
    const sets = keys.map((k) => `${k} = ?`).join(', ');
    return {
      sql: `UPDATE operators SET ${sets}${keys.length ? ', ' : ''}session_epoch = session_epoch + 1, updated_at = ? WHERE id = ?`,
      params: keys.map((k) => fields[k] ?? null),
    };
  },
  countFailure(id: number, rule: LockoutRule): { sql: string; params: unknown[] } {
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return '?';
    };
    // CASE instead of min()/LEAST() and of booleans as numbers: the one spelling both engines accept.
    const next = 'CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_attempts + 1 END';
    const locks = () => `(${next}) >= ${p(rule.maxAttempts)}`;
    const shift = 'CAST(CASE WHEN lockout_count < 20 THEN lockout_count ELSE 20 END AS INTEGER)';
    const grown = () => `CAST(${p(rule.baseMs)} AS BIGINT) * (CAST(1 AS BIGINT) << ${shift})`;
    const nowIso = new Date(rule.now).toISOString();
    const sql = `UPDATE operators SET
         failed_attempts = ${next},
         lockout_count = lockout_count + CASE WHEN ${locks()} THEN 1 ELSE 0 END,
         session_epoch = session_epoch + CASE WHEN ${locks()} THEN 1 ELSE 0 END,
         locked_at = CASE WHEN ${locks()} THEN ${p(nowIso)} ELSE NULL END,
         locked_until = CASE WHEN ${locks()}
                          THEN CAST(${p(rule.now)} AS BIGINT) + CASE WHEN ${grown()} < ${p(rule.maxMs)} THEN ${grown()} ELSE CAST(${p(rule.maxMs)} AS BIGINT) END
                          ELSE NULL END,
         updated_at = ${p(nowIso)}
       WHERE id = ${p(id)} AND (locked_until IS NULL OR locked_until <= ${p(rule.now)})
       RETURNING failed_attempts AS attempts, locked_until AS "lockedUntil", lockout_count AS lockouts`;
    return { sql, params };
  },
  clearFailures: `UPDATE operators SET failed_attempts = 0, lockout_count = 0, locked_at = NULL, locked_until = NULL, updated_at = ?
     WHERE id = ? AND (locked_until IS NULL OR locked_until <= ?) RETURNING id`,
  clearFailuresParams: (id: number, now: number): unknown[] => [new Date(now).toISOString(), id, now],
  changeOwnPassword: `UPDATE operators SET password_hash = ?, must_change_password = 0, password_set_by = id, password_set_at = ?,
       session_epoch = session_epoch + 1, updated_at = ?
     WHERE id = ? AND password_hash = ? AND disabled_at IS NULL AND (locked_until IS NULL OR locked_until <= ?)
     RETURNING *`,
  changeOwnPasswordParams(id: number, expected: string, next: string, now: number): unknown[] {
    const iso = new Date(now).toISOString();
    return [next, iso, iso, id, expected, now];
  },
} as const;

/** The operators table in the desk's SQLite file; audit entries through `AuditService.appendSync`. */
export class SqliteOperatorRepository implements OperatorRepository {
  // Prepared once: the router reads the caller's row on every call.
  private readonly sql: StatementCache;

  constructor(
    private readonly db: Database,
    private readonly audit: AuditService,
  ) {
    this.sql = new StatementCache(db);
  }

  async count(): Promise<number> {
    return this.countSync();
  }

  async byUsername(username: string): Promise<OperatorRow | undefined> {
    return this.sql.get(operatorSql.bySqliteUsername).get(username) as OperatorRow | undefined;
  }

  async byId(id: number): Promise<OperatorRow | undefined> {
    return this.byIdSync(id);
  }

  async all(): Promise<OperatorRow[]> {
    return this.sql.get(operatorSql.all).all() as OperatorRow[];
  }

  async enabledOfficers(): Promise<number[]> {
    return this.enabledOfficersSync();
  }

  async createFirst(op: NewOperator, entry: (id: number) => AuditEntryInput): Promise<OperatorRow | null> {
    return this.db
      .transaction(() => {
        if (this.countSync() !== 0) return null;
        const id = this.insertSync(op);
        this.audit.appendSync(entry(id));
        return this.byIdSync(id) ?? null;
      })
      .immediate();
  }

  async create(
    op: NewOperator,
    decide: (ctx: OperatorWriteContext & { readonly taken: boolean }) => readonly AuditEntryInput[],
  ): Promise<OperatorRow> {
    return this.db
      .transaction(() => {
        const taken = this.sql.get(operatorSql.bySqliteUsername).get(op.username) !== undefined;
        const entries = decide({ taken, enabledOfficers: this.enabledOfficersSync() });
        const id = this.insertSync(op);
        for (const e of entries) this.audit.appendSync(e);
        return this.mustGetSync(id);
      })
      .immediate();
  }

  async change(
    id: number,
    decide: (op: OperatorRow | undefined, ctx: OperatorWriteContext) => OperatorChange,
  ): Promise<OperatorRow> {
    return this.db
      .transaction(() => {
        const { fields, entries } = decide(this.byIdSync(id), { enabledOfficers: this.enabledOfficersSync() });
        const { sql, params } = operatorSql.update(fields);
        this.sql.get(sql).run(...params, new Date().toISOString(), id);
        for (const e of entries) this.audit.appendSync(e);
        return this.mustGetSync(id);
      })
      .immediate();
  }

  async countFailure(
    id: number,
    rule: LockoutRule,
    entries: (c: FailureCount) => readonly AuditEntryInput[],
  ): Promise<FailureCount | undefined> {
    const { sql, params } = operatorSql.countFailure(id, rule);
    return this.db.transaction(() => {
      const c = this.sql.get(sql).get(...params) as FailureCount | undefined;
      if (c) for (const e of entries(c)) this.audit.appendSync(e);
      return c;
    })();
  }

  async clearFailures(id: number, now: number): Promise<boolean> {
    return this.sql.get(operatorSql.clearFailures).get(...operatorSql.clearFailuresParams(id, now)) !== undefined;
  }

  async changeOwnPassword(
    id: number,
    expectedHash: string,
    nextHash: string,
    now: number,
    entries: () => readonly AuditEntryInput[],
  ): Promise<OperatorRow | null> {
    return this.db.transaction(() => {
      const row = this.db
        .prepare(operatorSql.changeOwnPassword)
        .get(...operatorSql.changeOwnPasswordParams(id, expectedHash, nextHash, now)) as OperatorRow | undefined;
      if (!row) return null;
      for (const e of entries()) this.audit.appendSync(e);
      return row;
    })();
  }

  private countSync(): number {
    return (this.sql.get(operatorSql.count).get() as { n: number }).n;
  }

  private byIdSync(id: number): OperatorRow | undefined {
    return this.sql.get(operatorSql.byId).get(id) as OperatorRow | undefined;
  }

  private mustGetSync(id: number): OperatorRow {
    const row = this.byIdSync(id);
    if (!row) throw new Error(`operator ${id} vanished inside its own transaction`);
    return row;
  }

  private enabledOfficersSync(): number[] {
    return (this.sql.get(operatorSql.enabledOfficers).all() as { id: number }[]).map((r) => r.id);
  }

  private insertSync(op: NewOperator): number {
    const { id } = this.db
      .prepare(operatorSql.insert)
      .get(...operatorSql.insertParams(op, new Date().toISOString())) as {
      id: number;
    };
    if (op.setBy === undefined) this.sql.get(operatorSql.setOwnSetter).run(id);
    return id;
  }
}

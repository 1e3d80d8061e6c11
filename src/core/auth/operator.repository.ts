import type { Database } from 'better-sqlite3';
import type { Role } from '../../shared/roles';

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
  created_at: string;
  updated_at: string;
}

/** SQL for the operators table, nothing else: rules live in the services. */
export class OperatorRepository {
  constructor(private readonly db: Database) {}

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM operators').get() as { n: number }).n;
  }

  byUsername(username: string): OperatorRow | undefined {
    return this.db.prepare('SELECT * FROM operators WHERE username = ?').get(username) as OperatorRow | undefined;
  }

  byId(id: number): OperatorRow | undefined {
    return this.db.prepare('SELECT * FROM operators WHERE id = ?').get(id) as OperatorRow | undefined;
  }

  all(): OperatorRow[] {
    return this.db.prepare('SELECT * FROM operators ORDER BY username').all() as OperatorRow[];
  }

  /** `setBy` is the operator who chose the password; omitted, the new operator chose it themselves. */
  insert(op: {
    username: string;
    displayName: string;
    role: Role;
    passwordHash: string;
    mustChange: boolean;
    setBy?: number;
  }): number {
    const now = new Date().toISOString();
    const info = this.db
      .prepare(
        `INSERT INTO operators (username, display_name, role, password_hash, must_change_password, password_set_by, password_set_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        op.username,
        op.displayName,
        op.role,
        op.passwordHash,
        op.mustChange ? 1 : 0,
        op.setBy ?? null,
        now,
        now,
        now,
      );
    const id = Number(info.lastInsertRowid);
    if (op.setBy === undefined) this.db.prepare('UPDATE operators SET password_set_by = id WHERE id = ?').run(id);
    return id;
  }

  /**
   * Replaces the password and records who set it: the owner (a change, final) or another operator
   * (a reset, temporary until the owner changes it). Dual control reads this provenance.
   */
  setPassword(id: number, passwordHash: string, setBy: number): void {
    this.update(id, {
      password_hash: passwordHash,
      must_change_password: setBy === id ? 0 : 1,
      password_set_by: setBy,
      password_set_at: new Date().toISOString(),
    });
  }

  /**
   * Counts one wrong password and locks the account when the count reaches `maxAttempts`, in one
   * statement, so concurrent attempts can neither lose a count nor lock twice. An expired lockout
   * starts the count afresh; a new lockout lasts baseMs doubled per earlier lockout in a row, at most
   * maxMs. Answers undefined, counting nothing, while the account is locked.
   */
  countFailure(
    id: number,
    rule: { now: number; maxAttempts: number; baseMs: number; maxMs: number },
  ): { attempts: number; lockedUntil: number | null; lockouts: number } | undefined {
    const next = 'CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_attempts + 1 END';
    return this.db
      .prepare(
        `UPDATE operators SET
           failed_attempts = ${next},
           lockout_count = lockout_count + (${next} >= @maxAttempts),
           locked_at = CASE WHEN ${next} >= @maxAttempts THEN @nowIso ELSE NULL END,
           locked_until = CASE WHEN ${next} >= @maxAttempts
                            THEN @now + min(@baseMs * (1 << min(lockout_count, 20)), @maxMs) ELSE NULL END,
           updated_at = @nowIso
         WHERE id = @id AND (locked_until IS NULL OR locked_until <= @now)
         RETURNING failed_attempts AS attempts, locked_until AS lockedUntil, lockout_count AS lockouts`,
      )
      .get({ ...rule, id, nowIso: new Date(rule.now).toISOString() }) as
      { attempts: number; lockedUntil: number | null; lockouts: number } | undefined;
  }

  /** After a right password: clears the count and any expired lockout. False when the account is locked now. */
  clearFailures(id: number, now: number): boolean {
    const info = this.db
      .prepare(
        `UPDATE operators SET failed_attempts = 0, lockout_count = 0, locked_at = NULL, locked_until = NULL, updated_at = @nowIso
         WHERE id = @id AND (locked_until IS NULL OR locked_until <= @now)`,
      )
      .run({ id, now, nowIso: new Date(now).toISOString() });
    return info.changes === 1;
  }

  update(id: number, fields: Partial<Omit<OperatorRow, 'id' | 'created_at' | 'updated_at'>>): void {
    const keys = Object.keys(fields) as (keyof typeof fields)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE operators SET ${sets}, updated_at = @updated_at WHERE id = @id`)
      .run({ ...fields, id, updated_at: new Date().toISOString() });
  }
}

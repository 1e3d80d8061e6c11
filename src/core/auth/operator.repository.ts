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
  disabled_at: string | null;
  must_change_password: number;
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

  insert(op: { username: string; displayName: string; role: Role; passwordHash: string; mustChange: boolean }): number {
    const now = new Date().toISOString();
    const info = this.db
      .prepare(
        `INSERT INTO operators (username, display_name, role, password_hash, must_change_password, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(op.username, op.displayName, op.role, op.passwordHash, op.mustChange ? 1 : 0, now, now);
    return Number(info.lastInsertRowid);
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

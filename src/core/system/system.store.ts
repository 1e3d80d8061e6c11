import type { Database } from '../db/database';

// What the dashboard and the About box read, on either engine (issue 12): the schema version, a
// few counts and the newest audit entries. The SQL is shared with PgSystemStore (system.store.pg.ts).

export interface RecentAuditEntry {
  seq: number;
  at: string;
  operator: string | null;
  action: string;
  outcome: 'ok' | 'denied' | 'failed';
}

export interface OperatorFigures {
  operators: number;
  lockedOperators: number;
}

export interface AuditFigures {
  entriesToday: number;
  failedSignInsToday: number;
  recent: RecentAuditEntry[];
}

export interface SystemStore {
  /** The newest migration applied to the database. */
  schemaVersion(): Promise<number>;
  /** Enabled operators, and those locked out at `nowMs` (epoch milliseconds). */
  operatorFigures(nowMs: number): Promise<OperatorFigures>;
  /** Entries and failed sign-ins on the UTC day `day` (YYYY-MM-DD), and the `recent` newest entries. */
  auditFigures(day: string, recent: number): Promise<AuditFigures>;
}

export const systemSql = {
  schemaVersion: 'SELECT max(version) AS v FROM schema_migrations',
  operators: 'SELECT count(*) AS n FROM operators WHERE disabled_at IS NULL',
  lockedOperators: 'SELECT count(*) AS n FROM operators WHERE locked_until > ?',
  entriesOnDay: 'SELECT count(*) AS n FROM audit_log WHERE substr(at, 1, 10) = ?',
  failedSignInsOnDay:
    "SELECT count(*) AS n FROM audit_log WHERE action = 'auth.signIn' AND outcome <> 'ok' AND substr(at, 1, 10) = ?",
  recent: 'SELECT seq, at, operator, action, outcome FROM audit_log ORDER BY seq DESC LIMIT ?',
} as const;

export class SqliteSystemStore implements SystemStore {
  constructor(private readonly db: Database) {}

  private count(sql: string, ...args: unknown[]): number {
    return (this.db.prepare(sql).get(...args) as { n: number }).n;
  }

  async schemaVersion(): Promise<number> {
    return (this.db.prepare(systemSql.schemaVersion).get() as { v: number }).v;
  }

  async operatorFigures(nowMs: number): Promise<OperatorFigures> {
    return {
      operators: this.count(systemSql.operators),
      lockedOperators: this.count(systemSql.lockedOperators, nowMs),
    };
  }

  async auditFigures(day: string, recent: number): Promise<AuditFigures> {
    return {
      entriesToday: this.count(systemSql.entriesOnDay, day),
      failedSignInsToday: this.count(systemSql.failedSignInsOnDay, day),
      recent: this.db.prepare(systemSql.recent).all(recent) as RecentAuditEntry[],
    };
  }
}

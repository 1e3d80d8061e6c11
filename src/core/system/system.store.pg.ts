import type { PgTransactor } from '../db/pg/pg-database';
import {
  systemSql,
  type AuditFigures,
  type OperatorFigures,
  type RecentAuditEntry,
  type SystemStore,
} from './system.store';

// The dashboard's figures on PostgreSQL: the statements of SqliteSystemStore, each one query on the
// pool (a count a moment old is fine for a dashboard; nothing here decides anything).

export class PgSystemStore implements SystemStore {
  constructor(private readonly db: PgTransactor) {}

  private async count(sql: string, ...args: unknown[]): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(sql, args);
    return row?.n ?? 0;
  }

  async schemaVersion(): Promise<number> {
    const [row] = await this.db.query<{ v: number }>(systemSql.schemaVersion);
    return row?.v ?? 0;
  }

  async operatorFigures(nowMs: number): Promise<OperatorFigures> {
    const [operators, lockedOperators] = await Promise.all([
      this.count(systemSql.operators),
      this.count(systemSql.lockedOperators, nowMs),
    ]);
    return { operators, lockedOperators };
  }

  async auditFigures(day: string, recent: number): Promise<AuditFigures> {
    const [entriesToday, failedSignInsToday, rows] = await Promise.all([
      this.count(systemSql.entriesOnDay, day),
      this.count(systemSql.failedSignInsOnDay, day),
      this.db.query<RecentAuditEntry & Record<string, unknown>>(systemSql.recent, [recent]),
    ]);
    return { entriesToday, failedSignInsToday, recent: rows };
  }
}

import type { AuditEntry } from '../../shared/contract/audit.contract';
import { auditEntryOf } from '../audit/audit-query';
import type { AuditRow } from '../audit/audit.service';
import type { Database } from '../db/database';

/**
 * A customer's history as the customer page shows it: the audit entries whose object is the
 * customer or one of their cards. Read-only over the audit trail; async like every repository so
 * the trail can move to a server engine with the rest (docs/storage.md).
 */
export interface CustomerHistoryRepository {
  /** Newest first, at most `limit`; `more` when older entries exist. */
  forObjects(objects: readonly string[], limit: number): Promise<{ entries: AuditEntry[]; more: boolean }>;
}

/** The one statement both engines run (customer-history.repository.pg.ts on PostgreSQL). */
export const customerHistorySql = (objects: number): string =>
  `SELECT * FROM audit_log WHERE object IN (${Array.from({ length: objects }, () => '?').join(', ')})
         ORDER BY seq DESC LIMIT ?`;

/** `limit` entries of the rows read (one more than asked, to tell whether older ones exist). */
export function historyPage(rows: readonly AuditRow[], limit: number): { entries: AuditEntry[]; more: boolean } {
  return { more: rows.length > limit, entries: rows.slice(0, limit).map(auditEntryOf) };
}

export class SqliteCustomerHistoryRepository implements CustomerHistoryRepository {
  constructor(private readonly db: Database) {}

  async forObjects(objects: readonly string[], limit: number): Promise<{ entries: AuditEntry[]; more: boolean }> {
    if (objects.length === 0) return { entries: [], more: false };
    const rows = this.db.prepare<unknown[], AuditRow>(customerHistorySql(objects.length)).all(...objects, limit + 1);
    return historyPage(rows, limit);
  }
}

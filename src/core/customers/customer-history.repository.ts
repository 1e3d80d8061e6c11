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

export class SqliteCustomerHistoryRepository implements CustomerHistoryRepository {
  constructor(private readonly db: Database) {}

  async forObjects(objects: readonly string[], limit: number): Promise<{ entries: AuditEntry[]; more: boolean }> {
    if (objects.length === 0) return { entries: [], more: false };
    const rows = this.db
      .prepare<unknown[], AuditRow>(
        `SELECT * FROM audit_log WHERE object IN (${objects.map(() => '?').join(', ')})
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(...objects, limit + 1);
    return {
      more: rows.length > limit,
      entries: rows.slice(0, limit).map(auditEntryOf),
    };
  }
}

import type { AuditEntry } from '../../shared/contract/audit.contract';
import type { AuditRow } from '../audit/audit.service';
import type { PgQueryable } from '../db/pg/pg-database';
import { customerHistorySql, historyPage, type CustomerHistoryRepository } from './customer-history.repository';

// A customer's history on PostgreSQL (issue 12): the statement SqliteCustomerHistoryRepository runs.
// The audit trail's seq is the chain's order on both engines (PgAuditLog numbers entries in commit
// order under the chain head's lock), so "newest first" means the same at every desk.

export class PgCustomerHistoryRepository implements CustomerHistoryRepository {
  constructor(private readonly db: PgQueryable) {}

  async forObjects(objects: readonly string[], limit: number): Promise<{ entries: AuditEntry[]; more: boolean }> {
    if (objects.length === 0) return { entries: [], more: false };
    const rows = await this.db.query<AuditRow & Record<string, unknown>>(customerHistorySql(objects.length), [
      ...objects,
      limit + 1,
    ]);
    return historyPage(rows, limit);
  }
}

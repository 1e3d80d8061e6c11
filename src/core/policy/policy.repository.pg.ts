import type { AuditEntryInput } from '../audit/audit.service';
import type { PgAuditTrail } from '../audit/audit-log.pg';
import type { Session } from '../auth/session.store';
import { sqlState, type PgDatabase } from '../db/pg/pg-database';
import type { Approver } from '../dual-control/dual-control.service';
import type { Policies } from './policy-values';
import {
  DEFAULTS_VERSION,
  INSERT_POLICY_SQL,
  POLICY_HISTORY_SQL,
  historyFromRows,
  insertPolicyParams,
  newPolicyRow,
  toVersion,
  type PolicyRow,
  type PolicyVersion,
  type PolicyVersionStore,
} from './policy.repository';

// The policy editor's versions on PostgreSQL (issue 12): SQLite's statements. A save writes
// version base+1 with its audit entry in one transaction, announced once it committed; two desks
// saving over the same base collide on the primary key (or serialise), and the loser reads a newer
// version and writes nothing.
// The policies in force for the services are read by the PolicySource, not here.

type Row = PolicyRow & Record<string, unknown>;
const LATEST_SQL = 'SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1';

export class PgPolicyVersionStore implements PolicyVersionStore {
  constructor(
    private readonly db: PgDatabase,
    private readonly audit: PgAuditTrail,
  ) {}

  async latest(): Promise<PolicyVersion> {
    const [row] = await this.db.query<Row>(LATEST_SQL);
    return row ? toVersion(row) : DEFAULTS_VERSION;
  }

  async history(limit: number): Promise<PolicyVersion[]> {
    return historyFromRows(await this.db.query<Row>(POLICY_HISTORY_SQL, [limit]), limit);
  }

  async save(
    policies: Policies,
    baseVersion: number,
    by: Session,
    approver: Approver | null,
    entry: (saved: PolicyVersion) => AuditEntryInput,
  ): Promise<PolicyVersion | null> {
    try {
      return await this.audit.transaction(this.db, async (tx, append) => {
        const [head] = await tx.query<{ version: number }>(
          'SELECT version FROM policy_versions ORDER BY version DESC LIMIT 1',
        );
        if ((head?.version ?? 0) !== baseVersion) return null;
        const row = newPolicyRow(baseVersion + 1, policies, by, approver);
        await tx.query(INSERT_POLICY_SQL, insertPolicyParams(row, by, approver));
        const saved = toVersion(row);
        await append(entry(saved));
        return saved;
      });
    } catch (err) {
      // Another desk saved version base+1 first.
      if (sqlState(err) === '23505') return null;
      throw err;
    }
  }
}

import type { Database, Statement } from 'better-sqlite3';
import type { Session } from '../auth/session.store';
import type { Approver } from '../dual-control/dual-control.service';
import { MANDATORY_DUAL_CONTROL } from '../../shared/contract/policy.contract';
import { DEFAULT_POLICIES, parsePolicies, type Policies } from './policy-values';

export interface PolicyVersion {
  readonly version: number;
  readonly policies: Policies;
  readonly changedAt: string | null;
  readonly changedBy: string | null;
  readonly approvedBy: string | null;
}

export interface PolicyRow {
  version: number;
  policies: string;
  changed_at: string;
  changed_by: string;
  approved_by: string | null;
}

/** The policies in force: the newest version (both engines). */
export const LATEST_POLICY_SQL = 'SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1';

/**
 * SQL for policy_versions. Reads hit the database every time (one indexed row) so a change saved
 * by another process on the same file is in force at the next use; parsing is cached per version.
 */
export class PolicyRepository {
  private cached: PolicyVersion | null = null;

  constructor(private readonly db: Database) {}

  // Prepared once: the verification service reads the policies on every code (the look-ahead).
  private latestStatement: Statement | undefined;

  latest(): PolicyVersion {
    this.latestStatement ??= this.db.prepare(LATEST_POLICY_SQL);
    const row = this.latestStatement.get() as PolicyRow | undefined;
    if (!row) return DEFAULTS_VERSION;
    if (this.cached?.version !== row.version) this.cached = toVersion(row);
    return this.cached;
  }

  history(limit: number): PolicyVersion[] {
    const rows = this.db
      .prepare('SELECT * FROM policy_versions ORDER BY version DESC LIMIT ?')
      .all(limit) as PolicyRow[];
    const versions = rows.map(toVersion);
    return versions.length < limit ? [...versions, DEFAULTS_VERSION] : versions;
  }

  insert(policies: Policies, by: Session, approver: Approver | null): PolicyVersion {
    const version = this.latest().version + 1;
    const row: PolicyRow = {
      version,
      policies: JSON.stringify(policies),
      changed_at: new Date().toISOString(),
      changed_by: by.username,
      approved_by: approver?.username ?? null,
    };
    this.db
      .prepare(
        `INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by, approved_by_id, approved_by)
         VALUES (@version, @policies, @changed_at, @changed_by_id, @changed_by, @approved_by_id, @approved_by)`,
      )
      .run({ ...row, changed_by_id: by.operatorId, approved_by_id: approver?.operatorId ?? null });
    return toVersion(row);
  }
}

export const DEFAULTS_VERSION: PolicyVersion = {
  version: 0,
  policies: DEFAULT_POLICIES,
  changedAt: null,
  changedBy: null,
  approvedBy: null,
};

// A stored version predates fields or dual-control actions added later: those take their defaults.
// An action made mandatory since (keys.backup, operator.privileged) is required whatever the stored
// version said, so a desk that had switched it off keeps loading its policy and gets the stricter rule.
export function toVersion(row: PolicyRow): PolicyVersion {
  const stored = JSON.parse(row.policies) as Partial<Policies>;
  const dualControl = { ...DEFAULT_POLICIES.dualControl, ...stored.dualControl };
  for (const action of MANDATORY_DUAL_CONTROL) dualControl[action] = { ...dualControl[action], required: true };
  const policies = parsePolicies({ ...DEFAULT_POLICIES, ...stored, dualControl });
  return {
    version: row.version,
    policies,
    changedAt: row.changed_at,
    changedBy: row.changed_by,
    approvedBy: row.approved_by,
  };
}

import type { Database, Statement } from 'better-sqlite3';
import type { AuditEntryInput, AuditService } from '../audit/audit.service';
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

/** A new version, on both engines: the primary key refuses a second version with the same number. */
export const INSERT_POLICY_SQL = `INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by, approved_by_id, approved_by)
   VALUES (?, ?, ?, ?, ?, ?, ?)`;

export function insertPolicyParams(row: PolicyRow, by: Session, approver: Approver | null): unknown[] {
  return [
    row.version,
    row.policies,
    row.changed_at,
    by.operatorId,
    row.changed_by,
    approver?.operatorId ?? null,
    row.approved_by,
  ];
}

export const POLICY_HISTORY_SQL = 'SELECT * FROM policy_versions ORDER BY version DESC LIMIT ?';

/** The newest `limit` versions, the defaults (version 0) after the oldest saved one when the list is short. */
export function historyFromRows(rows: readonly PolicyRow[], limit: number): PolicyVersion[] {
  const versions = rows.map(toVersion);
  return versions.length < limit ? [...versions, DEFAULTS_VERSION] : versions;
}

/** The row a change saves as version `version`. */
export function newPolicyRow(version: number, policies: Policies, by: Session, approver: Approver | null): PolicyRow {
  return {
    version,
    policies: JSON.stringify(policies),
    changed_at: new Date().toISOString(),
    changed_by: by.username,
    approved_by: approver?.username ?? null,
  };
}

/**
 * Policy versions as the policy editor reads and saves them, on either engine (issue 12). `save`
 * is one transaction: it writes version `baseVersion + 1` only while `baseVersion` is still the
 * newest (a compare-and-set: two desks saving over the same version get one winner), with the audit
 * entry built from the saved version; null, writing nothing, when another version came first.
 * The policies in force for the services stay with `PolicySource`.
 */
export interface PolicyVersionStore {
  latest(): Promise<PolicyVersion>;
  history(limit: number): Promise<PolicyVersion[]>;
  save(
    policies: Policies,
    baseVersion: number,
    by: Session,
    approver: Approver | null,
    entry: (saved: PolicyVersion) => AuditEntryInput,
  ): Promise<PolicyVersion | null>;
}

/** Policy versions in the desk's SQLite file; the entry through `AuditService.appendSync`. */
export class SqlitePolicyVersionStore implements PolicyVersionStore {
  private readonly repo: PolicyRepository;

  constructor(
    private readonly db: Database,
    private readonly audit: AuditService,
  ) {
    this.repo = new PolicyRepository(db);
  }

  async latest(): Promise<PolicyVersion> {
    return this.repo.latest();
  }

  async history(limit: number): Promise<PolicyVersion[]> {
    return historyFromRows(this.db.prepare(POLICY_HISTORY_SQL).all(limit) as PolicyRow[], limit);
  }

  async save(
    policies: Policies,
    baseVersion: number,
    by: Session,
    approver: Approver | null,
    entry: (saved: PolicyVersion) => AuditEntryInput,
  ): Promise<PolicyVersion | null> {
    return this.db
      .transaction(() => {
        if (this.repo.latest().version !== baseVersion) return null;
        const row = newPolicyRow(baseVersion + 1, policies, by, approver);
        this.db.prepare(INSERT_POLICY_SQL).run(...insertPolicyParams(row, by, approver));
        const saved = toVersion(row);
        this.audit.appendSync(entry(saved));
        return saved;
      })
      .immediate();
  }
}

import type { PgQueryable } from '../db/pg/pg-database';
import {
  DEFAULTS_VERSION,
  LATEST_POLICY_SQL,
  toVersion,
  type PolicyRow,
  type PolicyVersion,
} from './policy.repository';
import type { PolicySource } from './policy.service';
import type { Policies } from './policy-values';

// The policies in force, read from the shared issuer database on PostgreSQL (issue 12 item 2:
// "policies are read at use"). `current()` stays synchronous for every caller of PolicySource; the
// service awaits `refresh()` before each decision, so a version saved at any desk is in force at
// the next request. Cheap when nothing changed: one indexed single-column read, the row's JSON
// fetched and parsed only when the version moved.

/** The newest version's number; verification-store.pg.ts reads it as a column of the decision's read. */
export const LATEST_VERSION_SQL = 'SELECT version FROM policy_versions ORDER BY version DESC LIMIT 1';

export class PgPolicySource implements PolicySource {
  private latest: PolicyVersion = DEFAULTS_VERSION;

  constructor(private readonly db: PgQueryable) {}

  /** Reads the newest version; call it before a decision that reads `current()`. */
  async refresh(): Promise<void> {
    const [head] = await this.db.query<{ version: number }>(LATEST_VERSION_SQL);
    await this.seen(head?.version ?? null);
  }

  /**
   * The newest version as another statement read it (LATEST_VERSION_SQL as a column; null: none
   * saved yet): the row is fetched only when it moved. The same guarantee as `refresh`, without a
   * round trip of its own when the caller's read already went to the database.
   */
  async seen(newest: number | null): Promise<void> {
    const version = newest ?? 0;
    if (version === this.latest.version) return;
    const [row] = await this.db.query<PolicyRow & Record<string, unknown>>(LATEST_POLICY_SQL);
    this.latest = row ? toVersion(row) : DEFAULTS_VERSION;
  }

  current(): Policies {
    return this.latest.policies;
  }

  version(): number {
    return this.latest.version;
  }
}

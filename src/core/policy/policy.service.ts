// Policies the services read at the moment of use. Defaults are the embedded configuration;
// the policy editor (dual-controlled, versioned) stores each change as a new version.

import type { Database } from 'better-sqlite3';
import type { Approval } from '../../shared/contract/approval.contract';
import type { PolicyValues } from '../../shared/contract/policy.contract';
import type { Session } from '../auth/session.store';
import type { DualControlService } from '../dual-control/dual-control.service';
import { AppError } from '../errors';
import { PolicyRepository, type PolicyVersion, type PolicyVersionStore } from './policy.repository';
import { DEFAULT_POLICIES, parsePolicies, type Policies } from './policy-values';

export { DEFAULT_POLICIES, parsePolicies, type Policies } from './policy-values';

export interface PolicySource {
  current(): Policies;
  /**
   * Where the policies live in another process's database (PostgreSQL, policy-source.pg.ts): re-read
   * them before a decision, so a version saved at any desk applies at the next request. SQLite
   * sources read at each `current()` and need none.
   */
  refresh?(): Promise<void>;
}

export class StaticPolicySource implements PolicySource {
  constructor(private readonly values: Policies = DEFAULT_POLICIES) {}
  current(): Policies {
    return this.values;
  }
}

/** The newest saved version from the database, read at each use; the defaults until one is saved. */
export class DbPolicySource implements PolicySource {
  private readonly repo: PolicyRepository;
  constructor(db: Database) {
    this.repo = new PolicyRepository(db);
  }
  current(): Policies {
    return this.repo.latest().policies;
  }
}

/**
 * Reads, validates and saves policy versions (either engine, through PolicyVersionStore). Saving
 * needs a second approver and is audited field by field.
 */
export class PolicyService {
  constructor(
    private readonly store: PolicyVersionStore,
    private readonly dualControl: DualControlService,
  ) {}

  latest(): Promise<PolicyVersion> {
    return this.store.latest();
  }

  history(limit: number): Promise<PolicyVersion[]> {
    return this.store.history(limit);
  }

  async update(
    session: Session,
    input: { baseVersion: number; policies: PolicyValues; approval?: Approval | undefined },
  ): Promise<PolicyVersion> {
    const next = parsePolicies(input.policies);
    const before = await this.store.latest();
    assertFresh(before.version, input.baseVersion);
    const changes = diffPolicies(before.policies, next);
    if (Object.keys(changes).length === 0) {
      throw new AppError('POLICY_UNCHANGED', 'Nothing was changed, so no new policy version was saved.');
    }
    // Dual control is checked against the policies in force, never the ones being proposed.
    const approver = await this.dualControl.require('policy.update', session, input.approval, input);
    const saved = await this.store.save(next, input.baseVersion, session, approver, (v) => ({
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
      action: 'policy.update',
      object: `policy:v${v.version}`,
      outcome: 'ok',
      details: { version: v.version, approvedBy: approver?.username ?? null, ...changes },
    }));
    // Another desk saved a version over the same base first (the store wrote nothing).
    if (!saved)
      throw staleError(Math.max((await this.store.latest()).version, input.baseVersion + 1), input.baseVersion);
    return saved;
  }
}

/** Old → new per changed field, flat so the audit page can show each change as one line. */
export function diffPolicies(before: Policies, after: Policies): Record<string, string> {
  const changes: Record<string, string> = {};
  const note = (key: string, a: unknown, b: unknown) => {
    const from = JSON.stringify(a);
    const to = JSON.stringify(b);
    if (from !== to) changes[key] = `${from} → ${to}`;
  };
  for (const key of Object.keys(after) as (keyof Policies)[]) {
    if (key === 'dualControl') continue;
    note(key, before[key], after[key]);
  }
  for (const action of Object.keys(after.dualControl) as (keyof Policies['dualControl'])[]) {
    note(`dualControl.${action}`, before.dualControl[action], after.dualControl[action]);
  }
  return changes;
}

function assertFresh(latest: number, base: number): void {
  if (latest !== base) throw staleError(latest, base);
}

function staleError(latest: number, base: number): AppError {
  return new AppError(
    'POLICY_STALE',
    `Someone saved policy version ${latest} while you edited version ${base}. Reload the policies and make your change again.`,
  );
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEntry } from '../../support/operators';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import { AuditService, type AuditRow, type AuditTrail } from '../../../src/core/audit/audit.service';
import {
  SqliteOperatorRepository,
  type NewOperator,
  type OperatorRepository,
} from '../../../src/core/auth/operator.repository';
import { PgOperatorRepository } from '../../../src/core/auth/operator.repository.pg';
import type { Session } from '../../../src/core/auth/session.store';
import { openDatabase } from '../../../src/core/db/database';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { AppError } from '../../../src/core/errors';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy-values';
import { SqlitePolicyVersionStore, type PolicyVersionStore } from '../../../src/core/policy/policy.repository';
import { PgPolicyVersionStore } from '../../../src/core/policy/policy.repository.pg';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, approvalFor, auditRows, setupOfficer, value } from '../../support/operators';
import { freshTestDatabase, testEngine } from '../../support/test-engine';

// Operator changes and policy saves commit with their audit entries inside the repository's own
// transaction; the audit trail's listeners (the router's refusal scope, the every-N checkpoint) hear
// those entries as they hear every other: each committed entry once, in chain order, and nothing of
// a change refused or rolled back. On PostgreSQL they are announced after COMMIT
// (PgAuditTrail.transaction); on SQLite as each is written inside the transaction.

interface Storage {
  readonly audit: AuditTrail;
  readonly operators: OperatorRepository;
  readonly versions: PolicyVersionStore;
  entries(): Promise<AuditRow[]>;
  close(): Promise<void>;
}

/** The audit trail, operators and policy versions as the desk builds them, on the engine the run tests. */
async function engineStorage(): Promise<Storage> {
  if (testEngine === 'sqlite') {
    const db = openDatabase(':memory:');
    const audit = new AuditService(db);
    return {
      audit,
      operators: new SqliteOperatorRepository(db, audit),
      versions: new SqlitePolicyVersionStore(db, audit),
      entries: async () => db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[],
      close: async () => void db.close(),
    };
  }
  const database = await freshTestDatabase();
  const db = new PgDatabase({ ...database.options, applicationName: 'otac-test-desk' });
  const audit = new PgAuditTrail(new PgAuditLog(db));
  return {
    audit,
    operators: new PgOperatorRepository(db, audit),
    versions: new PgPolicyVersionStore(db, audit),
    entries: () => database.sql.all<AuditRow>('SELECT * FROM audit_log ORDER BY seq'),
    close: async () => {
      await db.close();
      await database.drop();
    },
  };
}

const entry = auditEntry;
let serial = 0;
const newOperator = (): NewOperator => ({
  username: `announced${++serial}`,
  displayName: 'Announced',
  role: 'clerk',
  passwordHash: `hash-${serial}`,
  mustChange: false,
});
const refusal = () => new AppError('NO_CHANGE', 'refused in the transaction');
/** The saving officer: an operator the test made (policy_versions names them by id). */
const sessionOf = (op: { id: number; username: string }): Session => ({
  operatorId: op.id,
  username: op.username,
  displayName: 'Sofia',
  role: 'security_officer',
  mustChangePassword: false,
  lastActivity: 0,
});

describe(`operator changes and policy saves reach the audit's listeners once committed (${testEngine})`, () => {
  let s: Storage;
  const heard: AuditRow[] = [];

  beforeAll(async () => {
    s = await engineStorage();
    s.audit.onAppend((row) => heard.push(row));
  });
  afterAll(async () => {
    await s?.close();
  });

  /** The entries `write` committed, and what the listeners heard while it ran. */
  async function during(write: () => Promise<unknown>): Promise<{ committed: AuditRow[]; heard: AuditRow[] }> {
    const before = (await s.entries()).length;
    heard.length = 0;
    await write().catch((err: unknown) => {
      if (!(err instanceof AppError)) throw err;
    });
    return { committed: (await s.entries()).slice(before), heard: [...heard] };
  }

  it('every kind of operator change: each committed entry is heard once, as it stands in audit_log', async () => {
    let id = 0;
    const writes: [string, () => Promise<unknown>, number][] = [
      [
        'first officer',
        async () => (id = (await s.operators.createFirst(newOperator(), () => entry('auth.setupFirstOfficer')))!.id),
        1,
      ],
      [
        'create',
        async () => (id = (await s.operators.create(newOperator(), () => [entry('admin.createOperator')])).id),
        1,
      ],
      [
        'disable (two entries, in chain order)',
        () =>
          s.operators.change(id, () => ({
            fields: { disabled_at: new Date().toISOString() },
            entries: [entry('admin.disableOperator'), entry('auth.sessionEnded')],
          })),
        2,
      ],
      [
        're-role',
        () => s.operators.change(id, () => ({ fields: { role: 'support' }, entries: [entry('admin.updateRole')] })),
        1,
      ],
      [
        'wrong password counted, then the lockout',
        () =>
          s.operators.countFailure(id, { now: Date.now(), maxAttempts: 1, baseMs: 60_000, maxMs: 60_000 }, () => [
            entry('auth.signIn', 'failed'),
            entry('auth.lockout'),
          ]),
        2,
      ],
      [
        'own password change',
        async () => {
          const op = (await s.operators.byId(id))!;
          await s.operators.change(id, () => ({
            fields: { disabled_at: null, locked_at: null, locked_until: null },
            entries: [],
          }));
          return s.operators.changeOwnPassword(id, op.password_hash, 'next-hash', Date.now(), () => [
            entry('auth.changePassword'),
          ]);
        },
        1,
      ],
    ];
    for (const [what, write, count] of writes) {
      const { committed, heard } = await during(write);
      expect(committed, what).toHaveLength(count);
      expect(heard, what).toEqual(committed);
    }
  });

  it('a policy save: its entry is heard once, as it stands in audit_log', async () => {
    const by = sessionOf(await s.operators.create(newOperator(), () => [entry('admin.createOperator')]));
    const base = (await s.versions.latest()).version;
    const { committed, heard } = await during(() =>
      s.versions.save({ ...DEFAULT_POLICIES, sessionTimeoutMinutes: 20 }, base, by, null, (v) => ({
        ...entry('policy.update'),
        object: `policy:v${v.version}`,
      })),
    );
    expect(committed.map((r) => [r.action, r.object])).toEqual([['policy.update', `policy:v${base + 1}`]]);
    expect(heard).toEqual(committed);
  });

  it('a change refused in its transaction, or that finds nothing to change, is heard nowhere', async () => {
    const op = await s.operators.create(newOperator(), () => [entry('admin.createOperator')]);
    const latest = (await s.versions.latest()).version;
    const refused: [string, () => Promise<unknown>][] = [
      [
        'change refused by decide',
        () =>
          s.operators.change(op.id, () => {
            throw refusal();
          }),
      ],
      [
        'create refused by decide',
        () =>
          s.operators.create(newOperator(), () => {
            throw refusal();
          }),
      ],
      ['first officer once there are operators', () => s.operators.createFirst(newOperator(), () => entry('x.first'))],
      [
        'own password over a stale hash',
        () => s.operators.changeOwnPassword(op.id, 'stale', 'n', Date.now(), () => [entry('x.own')]),
      ],
      [
        'policy save over a stale version',
        () => s.versions.save(DEFAULT_POLICIES, latest - 1, sessionOf(op), null, () => entry('x.policy')),
      ],
    ];
    for (const [what, write] of refused) {
      expect(await during(write), what).toEqual({ committed: [], heard: [] });
    }
  });
});

// The router audits a refused mutating call itself unless the service already wrote a refusal
// during the call, which it learns from the trail's listeners: a refusal written with an operator
// change (a wrong password counted toward the lockout) must reach them, or the desk writes it twice.
describe(`the desk's router hears the refusals written with an operator change (${testEngine})`, () => {
  it('a wrong current password, then the lockout it causes: one refusal entry each, none added by the router', async () => {
    const t = await freshWorkstation();
    try {
      await setupOfficer(t.ws);
      const clerk = await addOperator(t.ws, 'clerk');
      const before = (await auditRows(t.ws)).length;
      const wrong = { currentPassword: 'not my password', newPassword: 'a new password 123' };
      const codes: string[] = [];
      for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
        const r = await t.ws.router.dispatch(clerk.client, 'auth:changePassword', wrong);
        codes.push(r.ok ? 'ok' : r.error.code);
      }
      expect(codes.at(-1)).toBe('AUTH_LOCKED');
      const added = (await auditRows(t.ws)).slice(before);
      const reasons = added.map((r) => [r.action, r.outcome, (JSON.parse(r.details) as { reason?: string }).reason]);
      expect(reasons).toEqual([
        ...Array.from({ length: DEFAULT_POLICIES.maxFailedSignIns }, () => [
          'auth.changePassword',
          'failed',
          'wrong-password',
        ]),
        ['auth.lockout', 'ok', undefined],
      ]);
    } finally {
      await t.dispose();
    }
  });

  it('a policy save with a wrong approver password: the approval’s refusal, and no second one by the router', async () => {
    const t = await freshWorkstation();
    try {
      const officer = await setupOfficer(t.ws);
      const approver = await addOperator(t.ws, 'security_officer');
      const current = value(await t.ws.router.dispatch(officer.client, 'policy:get', {})) as {
        version: number;
        policies: Record<string, unknown>;
      };
      const approval = await approvalFor(t.ws, officer, 'policy.update', { ...approver, password: 'not theirs' });
      const before = (await auditRows(t.ws)).length;
      const r = await t.ws.router.dispatch(officer.client, 'policy:update', {
        baseVersion: current.version,
        policies: { ...current.policies, sessionTimeoutMinutes: 20 },
        approval,
      });
      expect(r).toMatchObject({ ok: false });
      const added = (await auditRows(t.ws)).slice(before);
      expect(added.map((e) => [e.action, e.outcome, e.operator])).toEqual([
        ['dualControl.approve', 'failed', approver.username],
      ]);
    } finally {
      await t.dispose();
    }
  });
});

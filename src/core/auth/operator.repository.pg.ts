import type { AuditEntryInput } from '../audit/audit.service';
import type { PgAuditTrail } from '../audit/audit-log.pg';
import { sqlState, type PgDatabase, type PgQueryable } from '../db/pg/pg-database';
import {
  operatorSql,
  type FailureCount,
  type LockoutRule,
  type NewOperator,
  type OperatorChange,
  type OperatorRepository,
  type OperatorRow,
  type OperatorWriteContext,
} from './operator.repository';

// Operators on PostgreSQL (issue 12 item 2: "an operator disabled, locked or re-roled at one desk is
// refused at every desk; lockout counters and dual-control approvals hold across desks"): the
// statements of SqliteOperatorRepository, each change in one transaction with its audit entries
// (chained under the head's row lock), announced to the audit's listeners once committed
// (PgAuditTrail.transaction: only the attempt that committed). The counters and the own-password
// change are single compare-and-set UPDATEs under READ COMMITTED: a second desk waiting on the row
// re-checks the WHERE against the winner's committed row. Administrative changes read before they
// write, so they run SERIALIZABLE with the target row locked; a conflict runs the whole transaction
// again (PgDatabase.transaction), and `decide` then sees the other desk's committed change.

type Row = OperatorRow & Record<string, unknown>;

export class PgOperatorRepository implements OperatorRepository {
  constructor(
    private readonly db: PgDatabase,
    private readonly audit: PgAuditTrail,
  ) {}

  async count(): Promise<number> {
    return count(this.db);
  }

  async byUsername(username: string): Promise<OperatorRow | undefined> {
    const [row] = await this.db.query<Row>(operatorSql.byPgUsername, [username]);
    return row;
  }

  async byId(id: number): Promise<OperatorRow | undefined> {
    const [row] = await this.db.query<Row>(operatorSql.byId, [id]);
    return row;
  }

  all(): Promise<OperatorRow[]> {
    return this.db.query<Row>(operatorSql.all);
  }

  enabledOfficers(): Promise<number[]> {
    return enabledOfficers(this.db);
  }

  createFirst(op: NewOperator, entry: (id: number) => AuditEntryInput): Promise<OperatorRow | null> {
    // SERIALIZABLE: two desks both reading an empty table conflict, and the one run again sees the other's row.
    return this.audit.transaction(this.db, async (tx, append) => {
      if ((await count(tx)) !== 0) return null;
      const id = await insert(tx, op);
      await append(entry(id));
      return mustGet(tx, id);
    });
  }

  async create(
    op: NewOperator,
    decide: (ctx: OperatorWriteContext & { readonly taken: boolean }) => readonly AuditEntryInput[],
  ): Promise<OperatorRow> {
    const attempt = () =>
      this.audit.transaction(this.db, async (tx, append) => {
        const [existing] = await tx.query<Row>(operatorSql.byPgUsername, [op.username]);
        const entries = decide({ taken: existing !== undefined, enabledOfficers: await enabledOfficers(tx) });
        const id = await insert(tx, op);
        for (const e of entries) await append(e);
        return mustGet(tx, id);
      });
    try {
      return await attempt();
    } catch (err) {
      // Another desk took the name between our read and our insert: once more, `decide` now sees it taken.
      if (sqlState(err) !== '23505') throw err;
      return attempt();
    }
  }

  change(
    id: number,
    decide: (op: OperatorRow | undefined, ctx: OperatorWriteContext) => OperatorChange,
  ): Promise<OperatorRow> {
    return this.audit.transaction(this.db, async (tx, append) => {
      const [row] = await tx.query<Row>(`${operatorSql.byId} FOR UPDATE`, [id]);
      const { fields, entries } = decide(row, { enabledOfficers: await enabledOfficers(tx) });
      const { sql, params } = operatorSql.update(fields);
      await tx.query(sql, [...params, new Date().toISOString(), id]);
      for (const e of entries) await append(e);
      return mustGet(tx, id);
    });
  }

  countFailure(
    id: number,
    rule: LockoutRule,
    entries: (c: FailureCount) => readonly AuditEntryInput[],
  ): Promise<FailureCount | undefined> {
    const { sql, params } = operatorSql.countFailure(id, rule);
    return this.audit.transaction(
      this.db,
      async (tx, append) => {
        const [c] = await tx.query<FailureCount & Record<string, unknown>>(sql, params);
        if (c) for (const e of entries(c)) await append(e);
        return c;
      },
      'read committed',
    );
  }

  async clearFailures(id: number, now: number): Promise<boolean> {
    const rows = await this.db.query(operatorSql.clearFailures, operatorSql.clearFailuresParams(id, now));
    return rows.length === 1;
  }

  changeOwnPassword(
    id: number,
    expectedHash: string,
    nextHash: string,
    now: number,
    entries: () => readonly AuditEntryInput[],
  ): Promise<OperatorRow | null> {
    return this.audit.transaction(
      this.db,
      async (tx, append) => {
        const [row] = await tx.query<Row>(
          operatorSql.changeOwnPassword,
          operatorSql.changeOwnPasswordParams(id, expectedHash, nextHash, now),
        );
        if (!row) return null;
        for (const e of entries()) await append(e);
        return row;
      },
      'read committed',
    );
  }
}

async function count(q: PgQueryable): Promise<number> {
  const [row] = await q.query<{ n: number }>(operatorSql.count);
  return row?.n ?? 0;
}

async function enabledOfficers(q: PgQueryable): Promise<number[]> {
  return (await q.query<{ id: number }>(operatorSql.enabledOfficers)).map((r) => r.id);
}

async function insert(q: PgQueryable, op: NewOperator): Promise<number> {
  const [row] = await q.query<{ id: number }>(
    operatorSql.insert,
    operatorSql.insertParams(op, new Date().toISOString()),
  );
  if (!row) throw new Error('INSERT … RETURNING returned no row');
  if (op.setBy === undefined) await q.query(operatorSql.setOwnSetter, [row.id]);
  return row.id;
}

async function mustGet(q: PgQueryable, id: number): Promise<OperatorRow> {
  const [row] = await q.query<Row>(operatorSql.byId, [id]);
  if (!row) throw new Error(`operator ${id} vanished inside its own transaction`);
  return row;
}

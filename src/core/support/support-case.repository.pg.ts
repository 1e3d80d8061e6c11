import { sqlState, type PgTransactor, type PgQueryable } from '../db/pg/pg-database';
import {
  supportCaseFromRow,
  supportCaseSql,
  withdrawnList,
  type CaseRow,
  type IdentityProcedure,
  type NewReport,
  type PasskeyIssue,
  type ReportOutcome,
  type SupportCaseRecord,
  type SupportCaseRepository,
  type VerifiedVia,
  type WithdrawableRow,
} from './support-case.repository';

// Support cases on PostgreSQL (issue 12): the very statements SqliteSupportCaseRepository runs
// (supportCaseSql). Every step after the report is one compare-and-set statement on the case's
// state, so READ COMMITTED on the pool suffices: a second desk's UPDATE waits for the first, then
// re-checks its WHERE on the committed row (a locked case counts no more failures, a verified one
// verifies no more). The report reads and then writes several tables: it runs SERIALIZABLE and is
// retried whole, so two desks reporting the same card at once end as SQLite's one writer would —
// one opens the case, the other finds it ('existing'), never "card not blockable".

type Row = CaseRow & Record<string, unknown>;

export class PgSupportCaseRepository implements SupportCaseRepository {
  constructor(private readonly db: PgTransactor) {}

  private async one(q: PgQueryable, sql: string, params: unknown[]): Promise<SupportCaseRecord | null> {
    const [row] = await q.query<Row>(sql, params);
    return row ? supportCaseFromRow(row) : null;
  }

  byId(id: number): Promise<SupportCaseRecord | null> {
    return this.one(this.db, supportCaseSql.byId, [id]);
  }

  openForCard(cardRef: number): Promise<SupportCaseRecord | null> {
    return this.one(this.db, supportCaseSql.openForCard, [cardRef]);
  }

  async list(limit: number): Promise<SupportCaseRecord[]> {
    return (await this.db.query<Row>(supportCaseSql.list, [limit])).map(supportCaseFromRow);
  }

  async awaitingForEmail(email: string): Promise<SupportCaseRecord[]> {
    return (await this.db.query<Row>(supportCaseSql.awaitingForEmail, [email.toLowerCase()])).map(supportCaseFromRow);
  }

  async report(r: NewReport, by: { operator: string; at: string }): Promise<ReportOutcome> {
    try {
      return await this.db.transaction(async (tx): Promise<ReportOutcome> => {
        const open = await this.one(tx, supportCaseSql.openForCard, [r.cardRef]);
        if (open) return { kind: 'existing', supportCase: open };
        const [card] = await tx.query<{ state: string }>(supportCaseSql.cardState, [r.cardRef]);
        const [blocked] = await tx.query(supportCaseSql.blockCard, supportCaseSql.blockCardParams(r.cardRef, by.at));
        if (!card || !blocked) return { kind: 'card_not_blockable', cardState: card?.state ?? null };
        const before = await tx.query<WithdrawableRow & Record<string, unknown>>(
          supportCaseSql.withdrawable,
          supportCaseSql.withdrawableParams(r.cardRef),
        );
        for (const l of before) await tx.query(supportCaseSql.disableList, [by.at, l.id, l.state]);
        const supportCase = await this.one(tx, supportCaseSql.open, supportCaseSql.openParams(r, card.state, by));
        if (!supportCase) throw new Error('INSERT … RETURNING returned no row');
        return { kind: 'opened', supportCase, withdrawn: before.map(withdrawnList) };
      });
    } catch (err) {
      // One open case per card (the partial unique index): a report that lost the race to it, past
      // the serialisation retries, finds the winner's case — as SQLite's transaction would.
      const constraint = (err as { constraint?: unknown }).constraint;
      if (sqlState(err) !== '23505' || constraint !== 'support_cases_one_open_per_card') throw err;
      const open = await this.openForCard(r.cardRef);
      if (!open) throw err;
      return { kind: 'existing', supportCase: open };
    }
  }

  reservePasskeySend(id: number, maxSends: number): Promise<SupportCaseRecord | null> {
    return this.one(this.db, supportCaseSql.reservePasskeySend, [id, maxSends]);
  }

  async releasePasskeySend(id: number): Promise<void> {
    await this.db.query(supportCaseSql.releasePasskeySend, [id]);
  }

  recordPasskey(id: number, p: PasskeyIssue): Promise<SupportCaseRecord | null> {
    return this.one(this.db, supportCaseSql.recordPasskey, supportCaseSql.recordPasskeyParams(id, p));
  }

  recordFailure(id: number, limit: number, at: string): Promise<SupportCaseRecord | null> {
    return this.one(this.db, supportCaseSql.recordFailure, supportCaseSql.recordFailureParams(id, limit, at));
  }

  markVerified(
    id: number,
    p: { serial: number; tag: string; limit: number; via: VerifiedVia; by: string; at: string },
  ): Promise<SupportCaseRecord | null> {
    return this.one(this.db, supportCaseSql.markVerified, supportCaseSql.markVerifiedParams(id, p));
  }

  recordIdentityProcedure(id: number, p: IdentityProcedure, at: string): Promise<SupportCaseRecord | null> {
    return this.one(
      this.db,
      supportCaseSql.recordIdentityProcedure,
      supportCaseSql.recordIdentityProcedureParams(id, p, at),
    );
  }

  markReissued(id: number, newCardRef: number, at: string): Promise<SupportCaseRecord | null> {
    return this.one(this.db, supportCaseSql.markReissued, supportCaseSql.markReissuedParams(id, newCardRef, at));
  }
}

import { sqlState, type PgQueryable } from '../db/pg/pg-database';
import {
  ReissueTakenError,
  reissueFromRow,
  reissueSql,
  type NewReissue,
  type ReissueRecord,
  type ReissueRepository,
  type ReissueRow,
} from './reissue.repository';

// Reissues on PostgreSQL (issue 12): the very statements SqliteReissueRepository runs (reissueSql).
// Each method is one statement: `begin` is decided by the UNIQUE constraints (one reissue per case,
// per old card, per blank card), every later step by a compare-and-set that READ COMMITTED re-checks
// on the committed row after waiting for a concurrent writer, so of two desks only one moves it.

type Row = ReissueRow & Record<string, unknown>;

/** Which UNIQUE constraint refused `begin` (PostgreSQL names them table_column_key). */
const TAKEN: Record<string, ReissueTakenError['what']> = {
  card_reissues_case_id_key: 'case',
  card_reissues_old_card_ref_key: 'old_card',
  card_reissues_new_card_id_key: 'new_card',
};

export class PgReissueRepository implements ReissueRepository {
  constructor(private readonly db: PgQueryable) {}

  private async one(sql: string, params: unknown[]): Promise<ReissueRecord | null> {
    const [row] = await this.db.query<Row>(sql, params);
    return row ? reissueFromRow(row) : null;
  }

  byCase(caseId: number): Promise<ReissueRecord | null> {
    return this.one(reissueSql.byCase, [caseId]);
  }
  byOldCard(oldCardRef: number): Promise<ReissueRecord | null> {
    return this.one(reissueSql.byOldCard, [oldCardRef]);
  }
  byNewCard(newCardRef: number): Promise<ReissueRecord | null> {
    return this.one(reissueSql.byNewCard, [newCardRef]);
  }

  async begin(r: NewReissue, by: { operator: string; at: string }): Promise<ReissueRecord> {
    try {
      const row = await this.one(reissueSql.begin, reissueSql.beginParams(r, by));
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return row;
    } catch (err) {
      const constraint = (err as { constraint?: unknown }).constraint;
      const what = sqlState(err) === '23505' && typeof constraint === 'string' ? TAKEN[constraint] : undefined;
      if (what) throw new ReissueTakenError(what);
      throw err;
    }
  }

  markEnrolled(id: number, newCardRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markEnrolled, reissueSql.markEnrolledParams(id, newCardRef, at));
  }

  setCarriedList(id: number, listRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.setCarriedList, reissueSql.setCarriedListParams(id, listRef, at));
  }

  markDone(id: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markDone, reissueSql.markDoneParams(id, at));
  }

  setEmergencyList(id: number, was: number | null, listRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.setEmergencyList, reissueSql.setEmergencyListParams(id, was, listRef, at));
  }

  markEmergencyPrinted(
    id: number,
    listRef: number,
    by: { operator: string; approver: string | null; at: string },
  ): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markEmergencyPrinted, reissueSql.markEmergencyPrintedParams(id, listRef, by));
  }

  markOldCardTerminated(oldCardRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markOldCardTerminated, reissueSql.markOldCardTerminatedParams(oldCardRef, at));
  }
}

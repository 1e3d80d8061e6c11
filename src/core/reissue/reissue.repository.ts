import type { Database } from '../db/database';

// The reissues (migration 0018): which case replaced which card by which new card, and the quota
// carried over. Async, one transaction per changing method, compare-and-set, SQL kept here and
// portable (docs/storage.md). The UNIQUE constraints decide races: one reissue per case, one per old
// card, and a blank card serves one reissue.

export const REISSUE_STATES = ['enrolling', 'enrolled', 'done'] as const;
export type ReissueState = (typeof REISSUE_STATES)[number];

export interface NewReissue {
  readonly caseId: number;
  readonly customerRef: number;
  readonly oldCardRef: number;
  /** The chip id of the blank card chosen, recorded before the card is touched. */
  readonly newCardId: string;
  /** The old card's table the quota came from (null: the old card never had a list). */
  readonly oldListRef: number | null;
  /** The codes carried over (0: none; the new card then gets an ordinary first list). */
  readonly carriedCodes: number;
}

export interface ReissueRecord extends NewReissue {
  readonly id: number;
  readonly newCardRef: number | null;
  readonly carriedListRef: number | null;
  readonly state: ReissueState;
  readonly startedAt: string;
  readonly startedBy: string;
  readonly stateChangedAt: string;
  readonly oldCardTerminatedAt: string | null;
  /** The emergency sheet's list (docs/reissue.md "Temporary access"), and when it reached the printer. */
  readonly emergencyListRef: number | null;
  readonly emergencyPrintedAt: string | null;
  readonly emergencyPrintedBy: string | null;
  readonly emergencyApprovedBy: string | null;
  readonly version: number;
}

/** Why `begin` did not insert: this case, the old card or the blank card has a reissue already. */
export class ReissueTakenError extends Error {
  constructor(readonly what: 'case' | 'old_card' | 'new_card') {
    super(`a reissue exists for this ${what}`);
  }
}

export interface ReissueRepository {
  byCase(caseId: number): Promise<ReissueRecord | null>;
  byOldCard(oldCardRef: number): Promise<ReissueRecord | null>;
  byNewCard(newCardRef: number): Promise<ReissueRecord | null>;
  /** A new reissue in state `enrolling`; throws ReissueTakenError when a UNIQUE constraint refuses it. */
  begin(reissue: NewReissue, by: { operator: string; at: string }): Promise<ReissueRecord>;
  /** enrolling → enrolled with the new card's row (compare-and-set); null when it was not enrolling. */
  markEnrolled(id: number, newCardRef: number, at: string): Promise<ReissueRecord | null>;
  /** Records the carried list once; null when one is recorded already. */
  setCarriedList(id: number, listRef: number, at: string): Promise<ReissueRecord | null>;
  /** enrolled → done (compare-and-set). */
  markDone(id: number, at: string): Promise<ReissueRecord | null>;
  /** The sheet's list, replacing one never printed (compare-and-set on `was`); null when another call was first. */
  setEmergencyList(id: number, was: number | null, listRef: number, at: string): Promise<ReissueRecord | null>;
  /** The sheet reached the printer (once). */
  markEmergencyPrinted(
    id: number,
    listRef: number,
    by: { operator: string; approver: string | null; at: string },
  ): Promise<ReissueRecord | null>;
  /** The old card answered TERMINATE (first time only). */
  markOldCardTerminated(oldCardRef: number, at: string): Promise<ReissueRecord | null>;
}

interface ReissueRow {
  id: number;
  case_id: number;
  customer_ref: number;
  old_card_ref: number;
  new_card_id: string;
  new_card_ref: number | null;
  old_list_ref: number | null;
  carried_codes: number;
  carried_list_ref: number | null;
  state: ReissueState;
  started_at: string;
  started_by: string;
  state_changed_at: string;
  old_card_terminated_at: string | null;
  emergency_list_ref: number | null;
  emergency_printed_at: string | null;
  emergency_printed_by: string | null;
  emergency_approved_by: string | null;
  version: number;
}

const fromRow = (r: ReissueRow): ReissueRecord => ({
  id: r.id,
  caseId: r.case_id,
  customerRef: r.customer_ref,
  oldCardRef: r.old_card_ref,
  newCardId: r.new_card_id,
  newCardRef: r.new_card_ref,
  oldListRef: r.old_list_ref,
  carriedCodes: r.carried_codes,
  carriedListRef: r.carried_list_ref,
  state: r.state,
  startedAt: r.started_at,
  startedBy: r.started_by,
  stateChangedAt: r.state_changed_at,
  oldCardTerminatedAt: r.old_card_terminated_at,
  emergencyListRef: r.emergency_list_ref,
  emergencyPrintedAt: r.emergency_printed_at,
  emergencyPrintedBy: r.emergency_printed_by,
  emergencyApprovedBy: r.emergency_approved_by,
  version: r.version,
});

type By = { operator: string; at: string };

/**
 * The statements both engines run (reissue.repository.pg.ts runs them on PostgreSQL), with their
 * parameters in order: one text per statement, so the two implementations cannot drift apart.
 */
export const reissueSql = {
  byCase: 'SELECT * FROM card_reissues WHERE case_id = ?',
  byOldCard: 'SELECT * FROM card_reissues WHERE old_card_ref = ?',
  byNewCard: 'SELECT * FROM card_reissues WHERE new_card_ref = ?',
  begin: `INSERT INTO card_reissues (case_id, customer_ref, old_card_ref, new_card_id, old_list_ref, carried_codes,
           state, started_at, started_by, state_changed_at)
         VALUES (?, ?, ?, ?, ?, ?, 'enrolling', ?, ?, ?) RETURNING *`,
  beginParams: (r: NewReissue, by: By): unknown[] => [
    r.caseId,
    r.customerRef,
    r.oldCardRef,
    r.newCardId,
    r.oldListRef,
    r.carriedCodes,
    by.at,
    by.operator,
    by.at,
  ],
  markEnrolled: `UPDATE card_reissues SET state = 'enrolled', new_card_ref = ?, state_changed_at = ?, version = version + 1
        WHERE id = ? AND state = 'enrolling' RETURNING *`,
  markEnrolledParams: (id: number, newCardRef: number, at: string): unknown[] => [newCardRef, at, id],
  setCarriedList: `UPDATE card_reissues SET carried_list_ref = ?, state_changed_at = ?, version = version + 1
        WHERE id = ? AND carried_list_ref IS NULL RETURNING *`,
  setCarriedListParams: (id: number, listRef: number, at: string): unknown[] => [listRef, at, id],
  markDone: `UPDATE card_reissues SET state = 'done', state_changed_at = ?, version = version + 1
        WHERE id = ? AND state = 'enrolled' RETURNING *`,
  markDoneParams: (id: number, at: string): unknown[] => [at, id],
  // `CAST(? AS BIGINT) IS NULL`, not `? IS NULL`: PostgreSQL cannot type a parameter that only meets
  // IS NULL and refuses the statement; on SQLite the cast of an integer or NULL changes nothing.
  setEmergencyList: `UPDATE card_reissues SET emergency_list_ref = ?, state_changed_at = ?, version = version + 1
        WHERE id = ? AND emergency_printed_at IS NULL
          AND (emergency_list_ref = ? OR (emergency_list_ref IS NULL AND CAST(? AS BIGINT) IS NULL)) RETURNING *`,
  setEmergencyListParams: (id: number, was: number | null, listRef: number, at: string): unknown[] => [
    listRef,
    at,
    id,
    was,
    was,
  ],
  markEmergencyPrinted: `UPDATE card_reissues SET emergency_printed_at = ?, emergency_printed_by = ?, emergency_approved_by = ?,
         version = version + 1
        WHERE id = ? AND emergency_list_ref = ? AND emergency_printed_at IS NULL RETURNING *`,
  markEmergencyPrintedParams: (
    id: number,
    listRef: number,
    by: { operator: string; approver: string | null; at: string },
  ): unknown[] => [by.at, by.operator, by.approver, id, listRef],
  markOldCardTerminated: `UPDATE card_reissues SET old_card_terminated_at = ?, version = version + 1
        WHERE old_card_ref = ? AND old_card_terminated_at IS NULL RETURNING *`,
  markOldCardTerminatedParams: (oldCardRef: number, at: string): unknown[] => [at, oldCardRef],
} as const;

export class SqliteReissueRepository implements ReissueRepository {
  constructor(private readonly db: Database) {}

  private one(sql: string, ...params: unknown[]): ReissueRecord | null {
    const row = this.db.prepare<unknown[], ReissueRow>(sql).get(...params);
    return row ? fromRow(row) : null;
  }

  async byCase(caseId: number): Promise<ReissueRecord | null> {
    return this.one(reissueSql.byCase, caseId);
  }
  async byOldCard(oldCardRef: number): Promise<ReissueRecord | null> {
    return this.one(reissueSql.byOldCard, oldCardRef);
  }
  async byNewCard(newCardRef: number): Promise<ReissueRecord | null> {
    return this.one(reissueSql.byNewCard, newCardRef);
  }

  async begin(r: NewReissue, by: By): Promise<ReissueRecord> {
    try {
      const row = this.one(reissueSql.begin, ...reissueSql.beginParams(r, by));
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return row;
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      if (message.includes('UNIQUE') && message.includes('card_reissues.case_id')) throw new ReissueTakenError('case');
      if (message.includes('UNIQUE') && message.includes('card_reissues.old_card_ref'))
        throw new ReissueTakenError('old_card');
      if (message.includes('UNIQUE') && message.includes('card_reissues.new_card_id'))
        throw new ReissueTakenError('new_card');
      throw err;
    }
  }

  async markEnrolled(id: number, newCardRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markEnrolled, ...reissueSql.markEnrolledParams(id, newCardRef, at));
  }

  async setCarriedList(id: number, listRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.setCarriedList, ...reissueSql.setCarriedListParams(id, listRef, at));
  }

  async markDone(id: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markDone, ...reissueSql.markDoneParams(id, at));
  }

  async setEmergencyList(id: number, was: number | null, listRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.setEmergencyList, ...reissueSql.setEmergencyListParams(id, was, listRef, at));
  }

  async markEmergencyPrinted(
    id: number,
    listRef: number,
    by: { operator: string; approver: string | null; at: string },
  ): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markEmergencyPrinted, ...reissueSql.markEmergencyPrintedParams(id, listRef, by));
  }

  async markOldCardTerminated(oldCardRef: number, at: string): Promise<ReissueRecord | null> {
    return this.one(reissueSql.markOldCardTerminated, ...reissueSql.markOldCardTerminatedParams(oldCardRef, at));
  }
}

/** For the PostgreSQL implementation beside this one (reissue.repository.pg.ts). */
export { fromRow as reissueFromRow, type ReissueRow };

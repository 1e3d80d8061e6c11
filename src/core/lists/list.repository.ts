import type { Database } from '../db/database';
import { StatementCache } from '../db/statement-cache';

// Code lists and use marks (migration 0008), metadata only: nothing here lets anyone compute a code
// without the keystore (docs/lists.md). Async, one transaction per changing method, no await inside
// one, SQL kept here and portable (docs/storage.md): every change is a compare-and-set whose row
// count decides, so two desks (or 64 concurrent calls) cannot both win.

export const LIST_STATES = [
  'prepared',
  'staged',
  'committed',
  'receipt_verified',
  'active',
  'superseded',
  'disabled',
] as const;
export type ListState = (typeof LIST_STATES)[number];
/** The states of a list on its way to the card: at most one per card. */
export const ON_ITS_WAY: readonly ListState[] = ['prepared', 'staged', 'committed', 'receipt_verified'];

/** A list printed on paper (the emergency sheet of a reissue), never on a card: sealed for `sheet:<N>`. */
export function isSheetList(list: { readonly sealedFor: string | null }): boolean {
  return list.sealedFor?.startsWith('sheet:') === true;
}

/** Why a list was queued (source 000 claims 2, 3, 28; docs/lists.md "Refill"). */
export const LIST_TRIGGERS = ['first', 'threshold', 'card_flag', 'manual'] as const;
export type ListTrigger = (typeof LIST_TRIGGERS)[number];

export interface NewList {
  readonly cardRef: number;
  /** 32 hex digits: 16 random bytes. */
  readonly listId: string;
  readonly length: number;
  readonly digits: number;
  readonly threshold: number;
  readonly expiresAt: string;
  readonly trigger: ListTrigger;
}

export interface ListRecord extends NewList {
  readonly id: number;
  readonly seq: number;
  readonly state: ListState;
  readonly mkVersion: number | null;
  readonly sealedFor: string | null;
  readonly bodyHash: string | null;
  /** Forward-only use: the lowest index still acceptable (docs/lists.md "Using a code"). */
  readonly nextIndex: number;
  readonly usedCount: number;
  readonly refillDue: boolean;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly stateChangedAt: string;
  readonly activatedAt: string | null;
  readonly version: number;
}

export interface ListSealing {
  readonly mkVersion: number;
  readonly sealedFor: string;
  /** 64 hex digits. */
  readonly bodyHash: string;
}

export interface UseMark {
  readonly list: ListRecord;
  readonly index: number;
  readonly usedAt: string;
}

export interface ListRepository {
  byId(id: number): Promise<ListRecord | null>;
  byListId(listId: string): Promise<ListRecord | null>;
  /** Every list of a card, newest first. */
  forCard(cardRef: number): Promise<ListRecord[]>;
  active(cardRef: number): Promise<ListRecord | null>;
  /** The list on its way to the card (prepared … receipt_verified), if any. */
  onItsWay(cardRef: number): Promise<ListRecord | null>;
  /** The list `verify` answers for: the active one, else the one most recently withdrawn (disabled) after activation. */
  current(cardRef: number): Promise<ListRecord | null>;
  /**
   * Queues a list in state `prepared` with seq = the card's highest + 1, unless one is already on its
   * way: then that one comes back with `created: false` and nothing changes.
   */
  queue(list: NewList, by: { operator: string; at: string }): Promise<{ list: ListRecord; created: boolean }>;
  /**
   * A list that never goes to a card — the emergency sheet printed for a card in the post (sealed for
   * `sheet:<N>`, docs/reissue.md) — inserted active at once with its sealing, at sequence number `seq`
   * (the one its codes were made for). Throws when the card has that seq or an active list already
   * (the UNIQUE constraint and the partial unique index decide).
   */
  insertActiveSheet(
    list: NewList & { readonly seq: number },
    sealing: ListSealing,
    by: { operator: string; at: string },
  ): Promise<ListRecord>;
  /** Records what the keystore sealed the list with; a list sealed once keeps it (a retry re-seals the same). */
  recordSealing(id: number, sealing: ListSealing, at: string): Promise<ListRecord | null>;
  /** Compare-and-set; `active` is reached only through activate. */
  transition(id: number, from: readonly ListState[], to: ListState, at: string): Promise<ListRecord | null>;
  /** receipt_verified → active and, in the same transaction, the card's previous active list → superseded. */
  activate(id: number, at: string): Promise<ListRecord | null>;
  /**
   * Marks code `index` used when the list is active, index lies in [next_index, next_index + window)
   * and the card is not locked out by its failure count: one conditional UPDATE whose row count
   * decides, then the mark. Null when it did not win.
   */
  markUse(id: number, index: number, window: number, at: string): Promise<UseMark | null>;
  isUsed(id: number, index: number): Promise<boolean>;
  /** Sets the refill-due flag (the server's count reached the threshold, or the card raised its flag). */
  setRefillDue(id: number): Promise<ListRecord | null>;
}

interface ListRow {
  id: number;
  card_ref: number;
  seq: number;
  list_id: string;
  length: number;
  digits: number;
  threshold: number;
  expires_at: string;
  state: ListState;
  queued_by_trigger: ListTrigger;
  mk_version: number | null;
  sealed_for: string | null;
  body_hash: string | null;
  next_index: number;
  used_count: number;
  refill_due: number;
  created_at: string;
  created_by: string;
  state_changed_at: string;
  activated_at: string | null;
  version: number;
}

const fromRow = (r: ListRow): ListRecord => ({
  id: r.id,
  cardRef: r.card_ref,
  seq: r.seq,
  listId: r.list_id,
  length: r.length,
  digits: r.digits,
  threshold: r.threshold,
  expiresAt: r.expires_at,
  state: r.state,
  trigger: r.queued_by_trigger,
  mkVersion: r.mk_version,
  sealedFor: r.sealed_for,
  bodyHash: r.body_hash,
  nextIndex: r.next_index,
  usedCount: r.used_count,
  refillDue: r.refill_due === 1,
  createdAt: r.created_at,
  createdBy: r.created_by,
  stateChangedAt: r.state_changed_at,
  activatedAt: r.activated_at,
  version: r.version,
});

const inList = (n: number) => Array.from({ length: n }, () => '?').join(', ');
const WAY = inList(ON_ITS_WAY.length);

/**
 * The card of the code_lists row is not locked out by its failure count (migration 0011): checked in
 * the mark's own UPDATE, not only by the decision's read before it. Desks and verification instances
 * decide a card's codes side by side, and a wrong code decided elsewhere may lock the card between
 * this decision's read and its mark; once that lock has committed, no mark begun after it accepts a
 * code of the card anywhere. A right code among wrong ones sent at once to k instances is then
 * accepted only if its mark reads the card before the lock commits, as the last attempt the limit
 * allows: a burst is worth one guess at the last slot, not k (docs/verification-service.md "The
 * lockout across instances").
 */
const NOT_LOCKED = `NOT EXISTS (SELECT 1 FROM verification_failures
             WHERE verification_failures.card_ref = code_lists.card_ref AND verification_failures.locked_at IS NOT NULL)`;

/**
 * The use mark's rule on a code_lists row: the SET and the WHERE of `listSql.markUse` for the list
 * `id`, the position `index` and the look-ahead `window`, each given as an SQL expression ('?' for a
 * parameter, or a column of a batch's rows: verification-store.pg.ts marks many uses in one UPDATE
 * with the same rule). With '?' the parameters come in `listSql.markUseParams`' order.
 */
export function markUseRule(id: string, index: string, window: string): { set: string; where: string } {
  return {
    set: `next_index = ${index} + 1, used_count = used_count + 1, version = version + 1,
           refill_due = CASE WHEN length - ${index} <= threshold THEN 1 ELSE refill_due END`,
    where: `id = ${id} AND state = 'active' AND ${index} >= next_index AND ${index} < next_index + ${window} AND ${index} <= length
           AND ${NOT_LOCKED}`,
  };
}

/**
 * The statements both engines run (list.repository.pg.ts runs them on PostgreSQL), with their
 * parameters in order: one text per statement, so the two implementations cannot drift apart.
 */
export const listSql = {
  current: `SELECT * FROM code_lists
     WHERE card_ref = ? AND (state = 'active' OR (state = 'disabled' AND activated_at IS NOT NULL))
     ORDER BY CASE WHEN state = 'active' THEN 0 ELSE 1 END, seq DESC
     LIMIT 1`,
  onItsWay: `SELECT * FROM code_lists WHERE card_ref = ? AND state IN (${WAY})`,
  queue: `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state,
       queued_by_trigger, created_at, created_by, state_changed_at)
     SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, 'prepared', ?, ?, ?, ?
       FROM code_lists WHERE card_ref = ?
     RETURNING *`,
  queueParams: (l: NewList, by: { operator: string; at: string }): unknown[] => [
    l.cardRef,
    l.listId,
    l.length,
    l.digits,
    l.threshold,
    l.expiresAt,
    l.trigger,
    by.at,
    by.operator,
    by.at,
    l.cardRef,
  ],
  insertSheet: `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state,
       queued_by_trigger, mk_version, sealed_for, body_hash, created_at, created_by, state_changed_at, activated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)
     RETURNING *`,
  insertSheetParams: (
    l: NewList & { readonly seq: number },
    s: ListSealing,
    by: { operator: string; at: string },
  ): unknown[] => [
    l.cardRef,
    l.seq,
    l.listId,
    l.length,
    l.digits,
    l.threshold,
    l.expiresAt,
    l.trigger,
    s.mkVersion,
    s.sealedFor,
    s.bodyHash,
    by.at,
    by.operator,
    by.at,
    by.at,
  ],
  recordSealing: `UPDATE code_lists SET mk_version = ?, sealed_for = ?, body_hash = ?, state_changed_at = ?,
       version = version + 1
     WHERE id = ? AND state IN (${WAY})
       AND (sealed_for IS NULL OR (sealed_for = ? AND mk_version = ? AND body_hash = ?))
     RETURNING *`,
  recordSealingParams: (id: number, s: ListSealing, at: string): unknown[] => [
    s.mkVersion,
    s.sealedFor,
    s.bodyHash,
    at,
    id,
    ...ON_ITS_WAY,
    s.sealedFor,
    s.mkVersion,
    s.bodyHash,
  ],
  transition: (states: number) => `UPDATE code_lists SET state = ?, state_changed_at = ?, version = version + 1
     WHERE id = ? AND state IN (${inList(states)})
     RETURNING *`,
  supersedeActive: `UPDATE code_lists SET state = 'superseded', state_changed_at = ?, version = version + 1
     WHERE card_ref = ? AND state = 'active'`,
  activate: `UPDATE code_lists SET state = 'active', activated_at = ?, state_changed_at = ?, version = version + 1
     WHERE id = ? AND state = 'receipt_verified'
     RETURNING *`,
  // The one statement that decides a use: forward-only, so an index can win once and never again.
  markUse: `UPDATE code_lists
       SET ${markUseRule('?', '?', '?').set}
     WHERE ${markUseRule('?', '?', '?').where}
     RETURNING *`,
  markUseParams: (id: number, index: number, window: number): unknown[] => [
    index,
    index,
    id,
    index,
    index,
    window,
    index,
  ],
  insertUse: 'INSERT INTO code_uses (list_ref, code_index, used_at) VALUES (?, ?, ?)',
} as const;

export class SqliteListRepository implements ListRepository {
  private readonly statements: StatementCache;

  /**
   * markUse's transaction, made once: better-sqlite3 builds four wrapper functions per
   * db.transaction() call, a tenth of the verification service's CPU when made per use mark
   * (docs/verification-service.md "Scale"). Inside a caller's transaction it is a savepoint.
   */
  private readonly markUseTx: (id: number, index: number, window: number, at: string) => UseMark | null;

  constructor(private readonly db: Database) {
    this.statements = new StatementCache(db);
    this.markUseTx = db.transaction((id: number, index: number, window: number, at: string) =>
      this.markUseNow(id, index, window, at),
    );
  }

  private stmt<R = unknown>(sql: string) {
    return this.statements.get<R>(sql);
  }

  private one(sql: string, ...params: unknown[]): ListRecord | null {
    const row = this.stmt<ListRow>(sql).get(...params);
    return row ? fromRow(row) : null;
  }

  async byId(id: number): Promise<ListRecord | null> {
    return this.one('SELECT * FROM code_lists WHERE id = ?', id);
  }
  async byListId(listId: string): Promise<ListRecord | null> {
    return this.one('SELECT * FROM code_lists WHERE list_id = ?', listId);
  }
  async forCard(cardRef: number): Promise<ListRecord[]> {
    return this.stmt<ListRow>('SELECT * FROM code_lists WHERE card_ref = ? ORDER BY seq DESC')
      .all(cardRef)
      .map(fromRow);
  }
  async active(cardRef: number): Promise<ListRecord | null> {
    return this.one(`SELECT * FROM code_lists WHERE card_ref = ? AND state = 'active'`, cardRef);
  }
  async onItsWay(cardRef: number): Promise<ListRecord | null> {
    return this.one(listSql.onItsWay, cardRef, ...ON_ITS_WAY);
  }
  async current(cardRef: number): Promise<ListRecord | null> {
    return this.one(listSql.current, cardRef);
  }

  async queue(list: NewList, by: { operator: string; at: string }): Promise<{ list: ListRecord; created: boolean }> {
    return this.db.transaction(() => {
      const existing = this.one(listSql.onItsWay, list.cardRef, ...ON_ITS_WAY);
      if (existing) return { list: existing, created: false };
      // The partial unique index is the guard for a second engine's writer; here the transaction is.
      const row = this.one(listSql.queue, ...listSql.queueParams(list, by));
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return { list: row, created: true };
    })();
  }

  async insertActiveSheet(
    list: NewList & { readonly seq: number },
    s: ListSealing,
    by: { operator: string; at: string },
  ): Promise<ListRecord> {
    if (!s.sealedFor.startsWith('sheet:')) throw new Error('only a paper list is inserted active');
    const row = this.one(listSql.insertSheet, ...listSql.insertSheetParams(list, s, by));
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return row;
  }

  async recordSealing(id: number, s: ListSealing, at: string): Promise<ListRecord | null> {
    return this.one(listSql.recordSealing, ...listSql.recordSealingParams(id, s, at));
  }

  async transition(id: number, from: readonly ListState[], to: ListState, at: string): Promise<ListRecord | null> {
    const allowed = from.filter((s) => s !== 'active' || to !== 'active');
    if (allowed.length === 0 || to === 'active') return null;
    return this.one(listSql.transition(allowed.length), to, at, id, ...allowed);
  }

  async activate(id: number, at: string): Promise<ListRecord | null> {
    return this.db.transaction(() => {
      const list = this.one(`SELECT * FROM code_lists WHERE id = ? AND state = 'receipt_verified'`, id);
      if (!list) return null;
      this.stmt(listSql.supersedeActive).run(at, list.cardRef);
      return this.one(listSql.activate, at, at, id);
    })();
  }

  async markUse(id: number, index: number, window: number, at: string): Promise<UseMark | null> {
    return this.markUseTx(id, index, window, at);
  }

  private markUseNow(id: number, index: number, window: number, at: string): UseMark | null {
    const list = this.one(listSql.markUse, ...listSql.markUseParams(id, index, window));
    if (!list) return null;
    this.stmt(listSql.insertUse).run(id, index, at);
    return { list, index, usedAt: at };
  }

  async isUsed(id: number, index: number): Promise<boolean> {
    return (
      this.stmt<{ n: number }>('SELECT COUNT(*) AS n FROM code_uses WHERE list_ref = ? AND code_index = ?').get(
        id,
        index,
      )?.n === 1
    );
  }

  async setRefillDue(id: number): Promise<ListRecord | null> {
    this.stmt(`UPDATE code_lists SET refill_due = 1, version = version + 1 WHERE id = ? AND refill_due = 0`).run(id);
    return this.one('SELECT * FROM code_lists WHERE id = ?', id);
  }
}

/** For the PostgreSQL implementation beside this one (list.repository.pg.ts). */
export { fromRow as listFromRow, type ListRow };

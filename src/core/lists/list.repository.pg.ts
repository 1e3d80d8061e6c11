import { sqlState, type PgDatabase, type PgQueryable } from '../db/pg/pg-database';
import {
  ON_ITS_WAY,
  ON_ITS_WAY_PLACEHOLDERS as WAY,
  listFromRow,
  type ListRecord,
  type ListRepository,
  type ListRow,
  type ListSealing,
  type ListState,
  type NewList,
  type UseMark,
} from './list.repository';

// Code lists and use marks on PostgreSQL (issue 12): the statements of SqliteListRepository. A use
// mark stays exactly-once across any number of verification instances because the one UPDATE that
// decides is conditional on next_index: a second instance waiting on the row re-checks the WHERE
// against the winner's committed row and updates nothing (READ COMMITTED's row re-check). The two
// methods that need several statements run them in one transaction on one connection.

type Row = ListRow & Record<string, unknown>;

export class PgListRepository implements ListRepository {
  constructor(private readonly db: PgDatabase) {}

  private async one(q: PgQueryable, sql: string, ...params: unknown[]): Promise<ListRecord | null> {
    const [row] = await q.query<Row>(sql, params);
    return row ? listFromRow(row) : null;
  }

  byId(id: number): Promise<ListRecord | null> {
    return this.one(this.db, 'SELECT * FROM code_lists WHERE id = ?', id);
  }
  byListId(listId: string): Promise<ListRecord | null> {
    return this.one(this.db, 'SELECT * FROM code_lists WHERE list_id = ?', listId);
  }
  async forCard(cardRef: number): Promise<ListRecord[]> {
    const rows = await this.db.query<Row>('SELECT * FROM code_lists WHERE card_ref = ? ORDER BY seq DESC', [cardRef]);
    return rows.map(listFromRow);
  }
  active(cardRef: number): Promise<ListRecord | null> {
    return this.one(this.db, `SELECT * FROM code_lists WHERE card_ref = ? AND state = 'active'`, cardRef);
  }
  onItsWay(cardRef: number): Promise<ListRecord | null> {
    return this.one(
      this.db,
      `SELECT * FROM code_lists WHERE card_ref = ? AND state IN (${WAY})`,
      cardRef,
      ...ON_ITS_WAY,
    );
  }
  current(cardRef: number): Promise<ListRecord | null> {
    return this.one(
      this.db,
      `SELECT * FROM code_lists
        WHERE card_ref = ? AND (state = 'active' OR (state = 'disabled' AND activated_at IS NOT NULL))
        ORDER BY CASE WHEN state = 'active' THEN 0 ELSE 1 END, seq DESC
        LIMIT 1`,
      cardRef,
    );
  }

  async queue(list: NewList, by: { operator: string; at: string }): Promise<{ list: ListRecord; created: boolean }> {
    const existing = () =>
      this.one(
        this.db,
        `SELECT * FROM code_lists WHERE card_ref = ? AND state IN (${WAY})`,
        list.cardRef,
        ...ON_ITS_WAY,
      );
    const before = await existing();
    if (before) return { list: before, created: false };
    try {
      // Another desk queueing at the same moment loses on the partial unique index (one list on
      // its way per card) or on (card_ref, seq): it then finds the winner's list.
      const row = await this.one(
        this.db,
        `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state,
           queued_by_trigger, created_at, created_by, state_changed_at)
         SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, 'prepared', ?, ?, ?, ?
           FROM code_lists WHERE card_ref = ?
         RETURNING *`,
        list.cardRef,
        list.listId,
        list.length,
        list.digits,
        list.threshold,
        list.expiresAt,
        list.trigger,
        by.at,
        by.operator,
        by.at,
        list.cardRef,
      );
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return { list: row, created: true };
    } catch (err) {
      if (sqlState(err) !== '23505') throw err;
      const winner = await existing();
      if (!winner) throw err;
      return { list: winner, created: false };
    }
  }

  async insertActiveSheet(
    list: NewList & { readonly seq: number },
    s: ListSealing,
    by: { operator: string; at: string },
  ): Promise<ListRecord> {
    if (!s.sealedFor.startsWith('sheet:')) throw new Error('only a paper list is inserted active');
    const row = await this.one(
      this.db,
      `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state,
         queued_by_trigger, mk_version, sealed_for, body_hash, created_at, created_by, state_changed_at, activated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)
       RETURNING *`,
      list.cardRef,
      list.seq,
      list.listId,
      list.length,
      list.digits,
      list.threshold,
      list.expiresAt,
      list.trigger,
      s.mkVersion,
      s.sealedFor,
      s.bodyHash,
      by.at,
      by.operator,
      by.at,
      by.at,
    );
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return row;
  }

  recordSealing(id: number, s: ListSealing, at: string): Promise<ListRecord | null> {
    return this.one(
      this.db,
      `UPDATE code_lists SET mk_version = ?, sealed_for = ?, body_hash = ?, state_changed_at = ?, version = version + 1
        WHERE id = ? AND state IN (${WAY})
          AND (sealed_for IS NULL OR (sealed_for = ? AND mk_version = ? AND body_hash = ?))
        RETURNING *`,
      s.mkVersion,
      s.sealedFor,
      s.bodyHash,
      at,
      id,
      ...ON_ITS_WAY,
      s.sealedFor,
      s.mkVersion,
      s.bodyHash,
    );
  }

  transition(id: number, from: readonly ListState[], to: ListState, at: string): Promise<ListRecord | null> {
    const allowed = from.filter((s) => s !== 'active' || to !== 'active');
    if (allowed.length === 0 || to === 'active') return Promise.resolve(null);
    return this.one(
      this.db,
      `UPDATE code_lists SET state = ?, state_changed_at = ?, version = version + 1
        WHERE id = ? AND state IN (${allowed.map(() => '?').join(', ')})
        RETURNING *`,
      to,
      at,
      id,
      ...allowed,
    );
  }

  async activate(id: number, at: string): Promise<ListRecord | null> {
    try {
      return await this.db.transaction(async (tx) => {
        // The row lock taken here orders two activations of the same list.
        const list = await this.one(
          tx,
          `SELECT * FROM code_lists WHERE id = ? AND state = 'receipt_verified' FOR UPDATE`,
          id,
        );
        if (!list) return null;
        await tx.query(
          `UPDATE code_lists SET state = 'superseded', state_changed_at = ?, version = version + 1
            WHERE card_ref = ? AND state = 'active'`,
          [at, list.cardRef],
        );
        return this.one(
          tx,
          `UPDATE code_lists SET state = 'active', activated_at = ?, state_changed_at = ?, version = version + 1
            WHERE id = ? AND state = 'receipt_verified'
            RETURNING *`,
          at,
          at,
          id,
        );
      }, 'read committed');
    } catch (err) {
      // Another list of the card became active first (one active list per card): this one did not.
      if (sqlState(err) === '23505') return null;
      throw err;
    }
  }

  markUse(id: number, index: number, window: number, at: string): Promise<UseMark | null> {
    return this.db.transaction(async (tx) => {
      // The one statement that decides: forward-only, so an index can win once and never again.
      const list = await this.one(
        tx,
        `UPDATE code_lists
            SET next_index = ? + 1, used_count = used_count + 1, version = version + 1,
                refill_due = CASE WHEN length - ? <= threshold THEN 1 ELSE refill_due END
          WHERE id = ? AND state = 'active' AND ? >= next_index AND ? < next_index + ? AND ? <= length
          RETURNING *`,
        index,
        index,
        id,
        index,
        index,
        window,
        index,
      );
      if (!list) return null;
      await tx.query('INSERT INTO code_uses (list_ref, code_index, used_at) VALUES (?, ?, ?)', [id, index, at]);
      return { list, index, usedAt: at };
    }, 'read committed');
  }

  async isUsed(id: number, index: number): Promise<boolean> {
    const [row] = await this.db.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM code_uses WHERE list_ref = ? AND code_index = ?',
      [id, index],
    );
    return row?.n === 1;
  }

  async setRefillDue(id: number): Promise<ListRecord | null> {
    await this.db.query(`UPDATE code_lists SET refill_due = 1, version = version + 1 WHERE id = ? AND refill_due = 0`, [
      id,
    ]);
    return this.byId(id);
  }
}

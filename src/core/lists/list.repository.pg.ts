import { sqlState, type PgTransactor, type PgQueryable } from '../db/pg/pg-database';
import {
  ON_ITS_WAY,
  listFromRow,
  listSql,
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
  constructor(private readonly db: PgTransactor) {}

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
    return this.one(this.db, listSql.onItsWay, cardRef, ...ON_ITS_WAY);
  }
  current(cardRef: number): Promise<ListRecord | null> {
    return this.one(this.db, listSql.current, cardRef);
  }

  async queue(list: NewList, by: { operator: string; at: string }): Promise<{ list: ListRecord; created: boolean }> {
    const existing = () => this.onItsWay(list.cardRef);
    const before = await existing();
    if (before) return { list: before, created: false };
    try {
      // Another desk queueing at the same moment loses on the partial unique index (one list on
      // its way per card) or on (card_ref, seq): it then finds the winner's list.
      const row = await this.one(this.db, listSql.queue, ...listSql.queueParams(list, by));
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
    const row = await this.one(this.db, listSql.insertSheet, ...listSql.insertSheetParams(list, s, by));
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return row;
  }

  recordSealing(id: number, s: ListSealing, at: string): Promise<ListRecord | null> {
    return this.one(this.db, listSql.recordSealing, ...listSql.recordSealingParams(id, s, at));
  }

  transition(id: number, from: readonly ListState[], to: ListState, at: string): Promise<ListRecord | null> {
    const allowed = from.filter((s) => s !== 'active' || to !== 'active');
    if (allowed.length === 0 || to === 'active') return Promise.resolve(null);
    return this.one(this.db, listSql.transition(allowed.length), to, at, id, ...allowed);
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
        await tx.query(listSql.supersedeActive, [at, list.cardRef]);
        return this.one(tx, listSql.activate, at, at, id);
      }, 'read committed');
    } catch (err) {
      // Another list of the card became active first (one active list per card): this one did not.
      if (sqlState(err) === '23505') return null;
      throw err;
    }
  }

  markUse(id: number, index: number, window: number, at: string): Promise<UseMark | null> {
    return this.db.transaction(async (tx) => {
      const list = await this.one(tx, listSql.markUse, ...listSql.markUseParams(id, index, window));
      if (!list) return null;
      await tx.query(listSql.insertUse, [id, index, at]);
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

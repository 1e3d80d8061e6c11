import { sqlState, type PgQueryable } from '../db/pg/pg-database';
import {
  CardTakenError,
  PUBLIC_KEY_HEX,
  cardFromRow,
  cardSql,
  type CardRecord,
  type CardRepository,
  type CardRow,
  type CardState,
  type NewCard,
  type SealTarget,
} from './card.repository';

// The card repository on PostgreSQL (issue 12): the very statements SqliteCardRepository runs
// (cardSql), each one compare-and-set statement, so READ COMMITTED on the pool is enough: PostgreSQL
// re-checks the WHERE on the row's newest version after waiting for a concurrent writer.

export class PgCardRepository implements CardRepository {
  constructor(private readonly db: PgQueryable) {}

  private async one(sql: string, ...params: unknown[]): Promise<CardRecord | null> {
    const [row] = await this.db.query<CardRow & Record<string, unknown>>(sql, params);
    return row ? cardFromRow(row) : null;
  }

  byId(id: number): Promise<CardRecord | null> {
    return this.one(cardSql.byId, id);
  }
  byN(n: string): Promise<CardRecord | null> {
    return this.one(cardSql.byN, n);
  }
  byCardId(cardId: string): Promise<CardRecord | null> {
    return this.one(cardSql.byCardId, cardId);
  }
  async listByCustomer(customerId: number): Promise<CardRecord[]> {
    const rows = await this.db.query<CardRow & Record<string, unknown>>(cardSql.listByCustomer, [customerId]);
    return rows.map(cardFromRow);
  }

  async insert(card: NewCard, by: { operator: string; at: string }): Promise<CardRecord> {
    try {
      const row = await this.one(cardSql.insert, ...cardSql.insertParams(card, by));
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return row;
    } catch (err) {
      const constraint = (err as { constraint?: unknown }).constraint;
      if (sqlState(err) === '23505' && constraint === 'cards_card_id_key') throw new CardTakenError('card_id');
      if (sqlState(err) === '23505' && constraint === 'cards_n_key') throw new CardTakenError('n');
      throw err;
    }
  }

  transition(id: number, from: readonly CardState[], to: CardState, at: string): Promise<CardRecord | null> {
    if (from.length === 0) return Promise.resolve(null);
    return this.one(cardSql.transition(from.length), ...cardSql.transitionParams(id, from, to, at));
  }

  setSealMode(id: number, version: number, target: SealTarget, at: string): Promise<CardRecord | null> {
    const key = target.mode === 'public-key' ? target.publicKey : null;
    if (key !== null && !PUBLIC_KEY_HEX.test(key))
      return Promise.reject(new Error('public key must be lower-case hex DER'));
    return this.one(cardSql.setSealMode, ...cardSql.setSealModeParams(id, version, key, target.mode, at));
  }
}

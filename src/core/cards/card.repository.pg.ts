import { sqlState, type PgQueryable } from '../db/pg/pg-database';
import {
  CardTakenError,
  cardFromRow,
  type CardRecord,
  type CardRepository,
  type CardRow,
  type CardState,
  type NewCard,
  type SealTarget,
} from './card.repository';

// The card repository on PostgreSQL (issue 12): the same statements as SqliteCardRepository, each
// one compare-and-set statement, so READ COMMITTED on the pool is enough: PostgreSQL re-checks the
// WHERE on the row's newest version after waiting for a concurrent writer.

export class PgCardRepository implements CardRepository {
  constructor(private readonly db: PgQueryable) {}

  private async one(sql: string, ...params: unknown[]): Promise<CardRecord | null> {
    const [row] = await this.db.query<CardRow & Record<string, unknown>>(sql, params);
    return row ? cardFromRow(row) : null;
  }

  byId(id: number): Promise<CardRecord | null> {
    return this.one('SELECT * FROM cards WHERE id = ?', id);
  }
  byN(n: string): Promise<CardRecord | null> {
    return this.one('SELECT * FROM cards WHERE n = ?', n);
  }
  byCardId(cardId: string): Promise<CardRecord | null> {
    return this.one('SELECT * FROM cards WHERE card_id = ?', cardId);
  }
  async listByCustomer(customerId: number): Promise<CardRecord[]> {
    const rows = await this.db.query<CardRow & Record<string, unknown>>(
      'SELECT * FROM cards WHERE customer_id = ? ORDER BY id',
      [customerId],
    );
    return rows.map(cardFromRow);
  }

  async insert(card: NewCard, by: { operator: string; at: string }): Promise<CardRecord> {
    try {
      const row = await this.one(
        `INSERT INTO cards (card_id, customer_id, n, state, seal_mode, enrolled_at, enrolled_by, state_changed_at)
         VALUES (?, ?, ?, 'enrolling', ?, ?, ?, ?) RETURNING *`,
        card.cardId,
        card.customerId,
        card.n,
        card.sealMode,
        by.at,
        by.operator,
        by.at,
      );
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
    return this.one(
      `UPDATE cards SET state = ?, state_changed_at = ?, version = version + 1,
         activated_at = CASE WHEN ? = 'active' AND activated_at IS NULL THEN ? ELSE activated_at END
       WHERE id = ? AND state IN (${from.map(() => '?').join(', ')})
       RETURNING *`,
      to,
      at,
      to,
      at,
      id,
      ...from,
    );
  }

  setSealMode(id: number, version: number, target: SealTarget, at: string): Promise<CardRecord | null> {
    const key = target.mode === 'public-key' ? target.publicKey : null;
    if (key !== null && !/^(?:[0-9a-f]{2}){32,1024}$/.test(key))
      return Promise.reject(new Error('public key must be lower-case hex DER'));
    return this.one(
      `UPDATE cards SET seal_mode = ?, public_key = ?, public_key_at = ?, version = version + 1
       WHERE id = ? AND version = ? AND state = 'active'
       RETURNING *`,
      target.mode,
      key,
      key === null ? null : at,
      id,
      version,
    );
  }
}

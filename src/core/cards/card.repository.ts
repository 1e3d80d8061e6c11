import type { Database } from '../db/database';
import { StatementCache } from '../db/statement-cache';

// The cards bound to customers (migration 0006), as every card workflow reads and moves them.
// Async, one transaction per changing method, no await inside one, SQL kept here and portable
// (docs/storage.md): a PostgreSQL implementation stands behind the same interface later.

export const CARD_STATES = ['enrolling', 'awaiting_activation', 'active', 'blocked', 'terminated'] as const;
export type CardState = (typeof CARD_STATES)[number];
export type SealMode = 'card-key' | 'public-key';

export interface NewCard {
  /** Upper-case hex card id, from the ATR's historical bytes. */
  readonly cardId: string;
  readonly customerId: number;
  /** The identification code N, with its check character. */
  readonly n: string;
  readonly sealMode: SealMode;
}

export interface CardRecord extends NewCard {
  readonly id: number;
  readonly state: CardState;
  readonly enrolledAt: string;
  readonly enrolledBy: string;
  readonly activatedAt: string | null;
  readonly stateChangedAt: string;
  readonly version: number;
  /**
   * Public-key mode (migration 0010): the card's RSA public key as proven by the card itself (the
   * R-MACed answer of GENERATE KEY PAIR), hex of its DER SubjectPublicKeyInfo; null in card-key mode.
   */
  readonly publicKey: string | null;
  readonly publicKeyAt: string | null;
}

/** Which key the card's next lists are sealed for: K, or the card's own proven RSA key. */
export type SealTarget = { readonly mode: 'card-key' } | { readonly mode: 'public-key'; readonly publicKey: string };

export interface CardRepository {
  byId(id: number): Promise<CardRecord | null>;
  byN(n: string): Promise<CardRecord | null>;
  byCardId(cardId: string): Promise<CardRecord | null>;
  listByCustomer(customerId: number): Promise<CardRecord[]>;
  /** A new card in state `enrolling`. Throws `CardTakenError` if the card id or N is taken. */
  insert(card: NewCard, by: { operator: string; at: string }): Promise<CardRecord>;
  /**
   * Moves a card to `to` only if it is in one of `from` now (compare-and-set): the updated record,
   * or null when another desk or call moved it first. Entering `active` stamps activated_at.
   */
  transition(id: number, from: readonly CardState[], to: CardState, at: string): Promise<CardRecord | null>;
  /**
   * Sets the seal mode of an active card whose row is still at `version` (compare-and-set): public-key
   * mode records the key with it, card-key mode clears any key. The updated record, or null when the
   * card is not active or another desk or call changed it first.
   */
  setSealMode(id: number, version: number, target: SealTarget, at: string): Promise<CardRecord | null>;
}

export class CardTakenError extends Error {
  constructor(readonly what: 'card_id' | 'n') {
    super(`a card with this ${what} exists`);
  }
}

interface CardRow {
  id: number;
  card_id: string;
  customer_id: number;
  n: string;
  state: CardState;
  seal_mode: SealMode;
  enrolled_at: string;
  enrolled_by: string;
  activated_at: string | null;
  state_changed_at: string;
  version: number;
  public_key: string | null;
  public_key_at: string | null;
}

const fromRow = (r: CardRow): CardRecord => ({
  id: r.id,
  cardId: r.card_id,
  customerId: r.customer_id,
  n: r.n,
  state: r.state,
  sealMode: r.seal_mode,
  enrolledAt: r.enrolled_at,
  enrolledBy: r.enrolled_by,
  activatedAt: r.activated_at,
  stateChangedAt: r.state_changed_at,
  version: r.version,
  publicKey: r.public_key,
  publicKeyAt: r.public_key_at,
});

/**
 * The statements both engines run (card.repository.pg.ts runs them on PostgreSQL), with their
 * parameters in order: one text per statement, so the two implementations cannot drift apart.
 */
export const cardSql = {
  byId: 'SELECT * FROM cards WHERE id = ?',
  byN: 'SELECT * FROM cards WHERE n = ?',
  byCardId: 'SELECT * FROM cards WHERE card_id = ?',
  listByCustomer: 'SELECT * FROM cards WHERE customer_id = ? ORDER BY id',
  insert: `INSERT INTO cards (card_id, customer_id, n, state, seal_mode, enrolled_at, enrolled_by, state_changed_at)
         VALUES (?, ?, ?, 'enrolling', ?, ?, ?, ?) RETURNING *`,
  insertParams: (card: NewCard, by: { operator: string; at: string }): unknown[] => [
    card.cardId,
    card.customerId,
    card.n,
    card.sealMode,
    by.at,
    by.operator,
    by.at,
  ],
  transition: (states: number) => `UPDATE cards SET state = ?, state_changed_at = ?, version = version + 1,
         activated_at = CASE WHEN ? = 'active' AND activated_at IS NULL THEN ? ELSE activated_at END
       WHERE id = ? AND state IN (${Array.from({ length: states }, () => '?').join(', ')})
       RETURNING *`,
  transitionParams: (id: number, from: readonly CardState[], to: CardState, at: string): unknown[] => [
    to,
    at,
    to,
    at,
    id,
    ...from,
  ],
  setSealMode: `UPDATE cards SET seal_mode = ?, public_key = ?, public_key_at = ?, version = version + 1
       WHERE id = ? AND version = ? AND state = 'active'
       RETURNING *`,
  setSealModeParams: (id: number, version: number, key: string | null, mode: SealMode, at: string): unknown[] => [
    mode,
    key,
    key === null ? null : at,
    id,
    version,
  ],
} as const;

/** A public key as setSealMode accepts it: lower-case hex DER, 32 to 1024 bytes. */
export const PUBLIC_KEY_HEX = /^(?:[0-9a-f]{2}){32,1024}$/;

export class SqliteCardRepository implements CardRepository {
  // byN runs on every verification: statements are prepared once (StatementCache).
  private readonly statements: StatementCache;

  constructor(private readonly db: Database) {
    this.statements = new StatementCache(db);
  }

  private one(sql: string, ...params: unknown[]): CardRecord | null {
    const row = this.statements.get<CardRow>(sql).get(...params);
    return row ? fromRow(row) : null;
  }

  async byId(id: number): Promise<CardRecord | null> {
    return this.one(cardSql.byId, id);
  }
  async byN(n: string): Promise<CardRecord | null> {
    return this.one(cardSql.byN, n);
  }
  async byCardId(cardId: string): Promise<CardRecord | null> {
    return this.one(cardSql.byCardId, cardId);
  }
  async listByCustomer(customerId: number): Promise<CardRecord[]> {
    return this.db.prepare<[number], CardRow>(cardSql.listByCustomer).all(customerId).map(fromRow);
  }

  async insert(card: NewCard, by: { operator: string; at: string }): Promise<CardRecord> {
    try {
      const row = this.one(cardSql.insert, ...cardSql.insertParams(card, by));
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return row;
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      if (message.includes('UNIQUE') && message.includes('cards.card_id')) throw new CardTakenError('card_id');
      if (message.includes('UNIQUE') && message.includes('cards.n')) throw new CardTakenError('n');
      throw err;
    }
  }

  async transition(id: number, from: readonly CardState[], to: CardState, at: string): Promise<CardRecord | null> {
    if (from.length === 0) return null;
    return this.one(cardSql.transition(from.length), ...cardSql.transitionParams(id, from, to, at));
  }

  async setSealMode(id: number, version: number, target: SealTarget, at: string): Promise<CardRecord | null> {
    const key = target.mode === 'public-key' ? target.publicKey : null;
    if (key !== null && !PUBLIC_KEY_HEX.test(key)) throw new Error('public key must be lower-case hex DER');
    return this.one(cardSql.setSealMode, ...cardSql.setSealModeParams(id, version, key, target.mode, at));
  }
}

/** For the PostgreSQL implementation beside this one (card.repository.pg.ts). */
export { fromRow as cardFromRow, type CardRow };

import type { Database } from '../db/database';

// The failure lockout's counter (migration 0011): codes of a card that failed in a row, and when the
// card was locked out. Async, one statement per change, portable SQL (docs/storage.md): the count
// moves by one UPSERT whose RETURNING row says where it stands, so two callers cannot both miss it.

export interface FailureState {
  readonly cardRef: number;
  /** Codes that failed in a row since the last accepted one (or the last clear). */
  readonly consecutive: number;
  readonly lastFailureAt: string | null;
  /** Set when `consecutive` reached the limit; the card's codes are refused until the desk clears it. */
  readonly lockedAt: string | null;
}

export interface FailureCounterRepository {
  get(cardRef: number): Promise<FailureState | null>;
  /** One more failure; locks the card when the count reaches `limit`. */
  recordFailure(cardRef: number, limit: number, at: string): Promise<FailureState>;
  /** An accepted code: the count goes back to 0 unless the card is locked (writes only when it was not 0). */
  recordSuccess(cardRef: number): Promise<void>;
  /** The desk's clear: count 0, lock lifted. Null when the card had nothing to clear. */
  clear(cardRef: number): Promise<FailureState | null>;
}

interface FailureRow {
  card_ref: number;
  consecutive: number;
  last_failure_at: string | null;
  locked_at: string | null;
}

const fromRow = (r: FailureRow): FailureState => ({
  cardRef: r.card_ref,
  consecutive: r.consecutive,
  lastFailureAt: r.last_failure_at,
  lockedAt: r.locked_at,
});

export class SqliteFailureCounterRepository implements FailureCounterRepository {
  // Prepared once: `get` and `recordSuccess` run on every verification.
  private readonly byCard;
  private readonly reset;

  constructor(private readonly db: Database) {
    this.byCard = db.prepare<[number], FailureRow>('SELECT * FROM verification_failures WHERE card_ref = ?');
    this.reset = db.prepare<[number]>(
      'UPDATE verification_failures SET consecutive = 0 WHERE card_ref = ? AND consecutive > 0 AND locked_at IS NULL',
    );
  }

  async get(cardRef: number): Promise<FailureState | null> {
    const row = this.byCard.get(cardRef);
    return row ? fromRow(row) : null;
  }

  async recordFailure(cardRef: number, limit: number, at: string): Promise<FailureState> {
    const row = this.db
      .prepare<unknown[], FailureRow>(
        `INSERT INTO verification_failures (card_ref, consecutive, last_failure_at, locked_at)
           VALUES (?, 1, ?, CASE WHEN 1 >= ? THEN ? ELSE NULL END)
         ON CONFLICT (card_ref) DO UPDATE SET
           consecutive = verification_failures.consecutive + 1,
           last_failure_at = excluded.last_failure_at,
           locked_at = COALESCE(verification_failures.locked_at,
             CASE WHEN verification_failures.consecutive + 1 >= ? THEN excluded.last_failure_at ELSE NULL END)
         RETURNING *`,
      )
      .get(cardRef, at, limit, at, limit);
    if (!row) throw new Error('UPSERT … RETURNING returned no row');
    return fromRow(row);
  }

  async recordSuccess(cardRef: number): Promise<void> {
    this.reset.run(cardRef);
  }

  async clear(cardRef: number): Promise<FailureState | null> {
    const row = this.db
      .prepare<[number], FailureRow>(
        `UPDATE verification_failures SET consecutive = 0, locked_at = NULL
          WHERE card_ref = ? AND (consecutive > 0 OR locked_at IS NOT NULL)
          RETURNING *`,
      )
      .get(cardRef);
    return row ? fromRow(row) : null;
  }
}

/** For the PostgreSQL implementation beside this one (failure.repository.pg.ts). */
export { fromRow as failureFromRow, type FailureRow };

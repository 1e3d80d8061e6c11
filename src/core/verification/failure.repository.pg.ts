import type { PgQueryable } from '../db/pg/pg-database';
import {
  failureFromRow,
  type FailureCounterRepository,
  type FailureRow,
  type FailureState,
} from './failure.repository';

// The failure lockout's counter on PostgreSQL (issue 12): one UPSERT per failure, so desks and
// verification instances counting the same card at once each add exactly one (the conflicting
// INSERT waits for the row and then updates the committed count).

type Row = FailureRow & Record<string, unknown>;

export class PgFailureCounterRepository implements FailureCounterRepository {
  constructor(private readonly db: PgQueryable) {}

  async get(cardRef: number): Promise<FailureState | null> {
    const [row] = await this.db.query<Row>('SELECT * FROM verification_failures WHERE card_ref = ?', [cardRef]);
    return row ? failureFromRow(row) : null;
  }

  async recordFailure(cardRef: number, limit: number, at: string): Promise<FailureState> {
    const [row] = await this.db.query<Row>(
      `INSERT INTO verification_failures (card_ref, consecutive, last_failure_at, locked_at)
         VALUES (?, 1, ?, CASE WHEN 1 >= ? THEN ? ELSE NULL END)
       ON CONFLICT (card_ref) DO UPDATE SET
         consecutive = verification_failures.consecutive + 1,
         last_failure_at = excluded.last_failure_at,
         locked_at = COALESCE(verification_failures.locked_at,
           CASE WHEN verification_failures.consecutive + 1 >= ? THEN excluded.last_failure_at ELSE NULL END)
       RETURNING *`,
      [cardRef, at, limit, at, limit],
    );
    if (!row) throw new Error('UPSERT … RETURNING returned no row');
    return failureFromRow(row);
  }

  async recordSuccess(cardRef: number): Promise<void> {
    await this.db.query(
      'UPDATE verification_failures SET consecutive = 0 WHERE card_ref = ? AND consecutive > 0 AND locked_at IS NULL',
      [cardRef],
    );
  }

  async clear(cardRef: number): Promise<FailureState | null> {
    const [row] = await this.db.query<Row>(
      `UPDATE verification_failures SET consecutive = 0, locked_at = NULL
        WHERE card_ref = ? AND (consecutive > 0 OR locked_at IS NOT NULL)
        RETURNING *`,
      [cardRef],
    );
    return row ? failureFromRow(row) : null;
  }
}

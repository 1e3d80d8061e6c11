import type { PgTransactor, PgQueryable } from '../db/pg/pg-database';
import type { RefusalReason } from './verification.service';
import {
  suspicionFromRow,
  type NewSuspicion,
  type Refusal,
  type SuspicionEvent,
  type SuspicionResolution,
  type SuspicionRow,
  type VerificationEventsRepository,
} from './verification-events.repository';

// Refusals and suspicion events on PostgreSQL (issue 12): the statements of the SQLite
// repository; a refusal and the suspicion it raises are one transaction.

type Row = SuspicionRow & Record<string, unknown>;

const INSERT_SUSPICION = `INSERT INTO suspicion_events (card_ref, list_ref, kind, code_index, drift, source, occurred_at)
  VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`;

async function suspect(q: PgQueryable, s: NewSuspicion): Promise<SuspicionEvent> {
  const [row] = await q.query<Row>(INSERT_SUSPICION, [
    s.cardRef,
    s.listRef,
    s.kind,
    s.codeIndex ?? null,
    s.drift ?? null,
    s.source.slice(0, 64),
    s.at,
  ]);
  if (!row) throw new Error('INSERT … RETURNING returned no row');
  return suspicionFromRow(row);
}

export class PgVerificationEventsRepository implements VerificationEventsRepository {
  constructor(private readonly db: PgTransactor) {}

  recordRefusal(r: Refusal, s: NewSuspicion | null): Promise<SuspicionEvent | null> {
    return this.db.transaction(async (tx) => {
      await tx.query('INSERT INTO verify_rejections (card_ref, list_ref, reason, source, at) VALUES (?, ?, ?, ?, ?)', [
        r.cardRef,
        r.listRef,
        r.reason,
        r.source.slice(0, 64),
        r.at,
      ]);
      return s ? suspect(tx, s) : null;
    }, 'read committed');
  }

  raise(s: NewSuspicion): Promise<SuspicionEvent> {
    return suspect(this.db, s);
  }

  async suspicionsForCard(cardRef: number, limit = 200): Promise<SuspicionEvent[]> {
    const rows = await this.db.query<Row>(
      'SELECT * FROM suspicion_events WHERE card_ref = ? ORDER BY occurred_at DESC, id DESC LIMIT ?',
      [cardRef, limit],
    );
    return rows.map(suspicionFromRow);
  }

  async openSuspicionsForCard(cardRef: number): Promise<SuspicionEvent[]> {
    const rows = await this.db.query<Row>(
      `SELECT * FROM suspicion_events WHERE card_ref = ? AND resolved_at IS NULL
        ORDER BY occurred_at DESC, id DESC`,
      [cardRef],
    );
    return rows.map(suspicionFromRow);
  }

  async resolve(id: number, resolution: SuspicionResolution, by: string, at: string): Promise<SuspicionEvent | null> {
    const [row] = await this.db.query<Row>(
      `UPDATE suspicion_events SET resolved_at = ?, resolved_by = ?, resolution = ?
        WHERE id = ? AND resolved_at IS NULL RETURNING *`,
      [at, by, resolution, id],
    );
    return row ? suspicionFromRow(row) : null;
  }

  async resolveOpenForCard(
    cardRef: number,
    resolution: SuspicionResolution,
    by: string,
    at: string,
  ): Promise<SuspicionEvent[]> {
    const rows = await this.db.query<Row>(
      `UPDATE suspicion_events SET resolved_at = ?, resolved_by = ?, resolution = ?
        WHERE card_ref = ? AND resolved_at IS NULL RETURNING *`,
      [at, by, resolution, cardRef],
    );
    return rows.map(suspicionFromRow);
  }

  async refusalCountsForCard(cardRef: number): Promise<Partial<Record<RefusalReason, number>>> {
    const rows = await this.db.query<{ reason: RefusalReason; n: number }>(
      'SELECT reason, COUNT(*) AS n FROM verify_rejections WHERE card_ref = ? GROUP BY reason',
      [cardRef],
    );
    return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
  }
}

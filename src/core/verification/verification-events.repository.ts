import type { Database } from '../db/database';
import type { RefusalReason } from './verification.service';

// Refusals and suspicion events (migration 0012; docs/clone-detection.md): what core `verify` and the
// desk's counter comparison record for the usage review and clone detection. Async, one transaction
// per changing method, portable SQL (docs/storage.md). Never a code, a key or N: the card and list
// by reference, the code by its index only.

export const SUSPICION_KINDS = ['code_replayed', 'disabled_table_used', 'blocked_card_used', 'counter_drift'] as const;
export type SuspicionKind = (typeof SUSPICION_KINDS)[number];
export const SUSPICION_RESOLUTIONS = ['table_disabled', 'card_reported', 'dismissed'] as const;
export type SuspicionResolution = (typeof SUSPICION_RESOLUTIONS)[number];

/** Where a verification came from: the desk, or `client:<key id>` of the verification service. */
export type VerificationSource = 'desk' | `client:${string}`;

export interface NewSuspicion {
  readonly cardRef: number;
  readonly listRef: number | null;
  readonly kind: SuspicionKind;
  readonly codeIndex?: number | null;
  /** Server's used count minus the card's (counter_drift only): positive is a probable clone. */
  readonly drift?: number | null;
  readonly source: string;
  readonly at: string;
}

export interface SuspicionEvent {
  readonly id: number;
  readonly cardRef: number;
  readonly listRef: number | null;
  readonly kind: SuspicionKind;
  readonly codeIndex: number | null;
  readonly drift: number | null;
  readonly source: string;
  readonly occurredAt: string;
  readonly resolvedAt: string | null;
  readonly resolvedBy: string | null;
  readonly resolution: SuspicionResolution | null;
}

export interface Refusal {
  readonly cardRef: number | null;
  readonly listRef: number | null;
  readonly reason: RefusalReason;
  readonly source: string;
  readonly at: string;
}

export interface VerificationEventsRepository {
  /** One refusal, and the suspicion it raises if any, in one transaction. */
  recordRefusal(refusal: Refusal, suspicion: NewSuspicion | null): Promise<SuspicionEvent | null>;
  /** A suspicion found outside `verify` (the desk's counter comparison). */
  raise(suspicion: NewSuspicion): Promise<SuspicionEvent>;
  /** The card's suspicion events, newest first (resolved ones too). */
  suspicionsForCard(cardRef: number, limit?: number): Promise<SuspicionEvent[]>;
  /** The card's unresolved events, newest first. */
  openSuspicionsForCard(cardRef: number): Promise<SuspicionEvent[]>;
  /** Resolves one open event (compare-and-set): null when it was resolved already or is unknown. */
  resolve(id: number, resolution: SuspicionResolution, by: string, at: string): Promise<SuspicionEvent | null>;
  /** Resolves every open event of the card at once; the ones it resolved. */
  resolveOpenForCard(
    cardRef: number,
    resolution: SuspicionResolution,
    by: string,
    at: string,
  ): Promise<SuspicionEvent[]>;
  /** Refusal counts of a card by reason (the card page; the usage review has its own queries). */
  refusalCountsForCard(cardRef: number): Promise<Partial<Record<RefusalReason, number>>>;
}

interface SuspicionRow {
  id: number;
  card_ref: number;
  list_ref: number | null;
  kind: SuspicionKind;
  code_index: number | null;
  drift: number | null;
  source: string;
  occurred_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution: SuspicionResolution | null;
}

const fromRow = (r: SuspicionRow): SuspicionEvent => ({
  id: r.id,
  cardRef: r.card_ref,
  listRef: r.list_ref,
  kind: r.kind,
  codeIndex: r.code_index,
  drift: r.drift,
  source: r.source,
  occurredAt: r.occurred_at,
  resolvedAt: r.resolved_at,
  resolvedBy: r.resolved_by,
  resolution: r.resolution,
});

export class SqliteVerificationEventsRepository implements VerificationEventsRepository {
  // Prepared once: a refusal on the verify path costs one INSERT (two with a suspicion).
  private readonly insertRefusal;
  private readonly insertSuspicion;
  private readonly refuseAndSuspect;

  constructor(private readonly db: Database) {
    this.insertRefusal = db.prepare<[number | null, number | null, string, string, string]>(
      'INSERT INTO verify_rejections (card_ref, list_ref, reason, source, at) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertSuspicion = db.prepare<unknown[], SuspicionRow>(
      `INSERT INTO suspicion_events (card_ref, list_ref, kind, code_index, drift, source, occurred_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    );
    this.refuseAndSuspect = db.transaction((r: Refusal, s: NewSuspicion | null): SuspicionRow | undefined => {
      this.insertRefusal.run(r.cardRef, r.listRef, r.reason, r.source.slice(0, 64), r.at);
      return s ? this.suspect(s) : undefined;
    });
  }

  async recordRefusal(refusal: Refusal, suspicion: NewSuspicion | null): Promise<SuspicionEvent | null> {
    const row = this.refuseAndSuspect(refusal, suspicion);
    return row ? fromRow(row) : null;
  }

  async raise(s: NewSuspicion): Promise<SuspicionEvent> {
    return fromRow(this.suspect(s));
  }

  async suspicionsForCard(cardRef: number, limit = 200): Promise<SuspicionEvent[]> {
    return this.db
      .prepare<[number, number], SuspicionRow>(
        'SELECT * FROM suspicion_events WHERE card_ref = ? ORDER BY occurred_at DESC, id DESC LIMIT ?',
      )
      .all(cardRef, limit)
      .map(fromRow);
  }

  async openSuspicionsForCard(cardRef: number): Promise<SuspicionEvent[]> {
    return this.db
      .prepare<[number], SuspicionRow>(
        `SELECT * FROM suspicion_events WHERE card_ref = ? AND resolved_at IS NULL
          ORDER BY occurred_at DESC, id DESC`,
      )
      .all(cardRef)
      .map(fromRow);
  }

  async resolve(id: number, resolution: SuspicionResolution, by: string, at: string): Promise<SuspicionEvent | null> {
    const row = this.db
      .prepare<[string, string, string, number], SuspicionRow>(
        `UPDATE suspicion_events SET resolved_at = ?, resolved_by = ?, resolution = ?
          WHERE id = ? AND resolved_at IS NULL RETURNING *`,
      )
      .get(at, by, resolution, id);
    return row ? fromRow(row) : null;
  }

  async resolveOpenForCard(
    cardRef: number,
    resolution: SuspicionResolution,
    by: string,
    at: string,
  ): Promise<SuspicionEvent[]> {
    return this.db
      .prepare<[string, string, string, number], SuspicionRow>(
        `UPDATE suspicion_events SET resolved_at = ?, resolved_by = ?, resolution = ?
          WHERE card_ref = ? AND resolved_at IS NULL RETURNING *`,
      )
      .all(at, by, resolution, cardRef)
      .map(fromRow);
  }

  async refusalCountsForCard(cardRef: number): Promise<Partial<Record<RefusalReason, number>>> {
    const rows = this.db
      .prepare<[number], { reason: RefusalReason; n: number }>(
        'SELECT reason, COUNT(*) AS n FROM verify_rejections WHERE card_ref = ? GROUP BY reason',
      )
      .all(cardRef);
    return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
  }

  private suspect(s: NewSuspicion): SuspicionRow {
    const row = this.insertSuspicion.get(
      s.cardRef,
      s.listRef,
      s.kind,
      s.codeIndex ?? null,
      s.drift ?? null,
      s.source.slice(0, 64),
      s.at,
    );
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return row;
  }
}

/** For the PostgreSQL implementation beside this one (verification-events.repository.pg.ts). */
export { fromRow as suspicionFromRow, type SuspicionRow };

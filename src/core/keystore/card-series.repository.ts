import type { Database } from 'better-sqlite3';

/** One card's key series (see migration 0003). */
export interface CardSeries {
  readonly n: string;
  readonly mkVersion: number;
  readonly sn: number;
  readonly pendingSn: number | null;
  readonly pendingMkVersion: number | null;
  readonly retiredCount: number;
}

/**
 * Async on both engines: on PostgreSQL the series is shared by every desk and verification
 * instance, so each read goes to the database (a card retired at another desk is refused here).
 */
export interface CardSeriesStore {
  get(n: string): Promise<CardSeries | undefined>;
  /** Inserts or replaces the row for `series.n`; refuses to move it back to a retired SN. */
  put(series: CardSeries): Promise<void>;
}

export interface CardSeriesRow {
  n: string;
  mk_version: number;
  sn: number;
  pending_sn: number | null;
  pending_mk_version: number | null;
  retired_count: number;
}

/** One text per statement for both engines (`?` placeholders; PostgreSQL's are numbered by pgSql). */
export const cardSeriesSql = {
  select: 'SELECT n, mk_version, sn, pending_sn, pending_mk_version, retired_count FROM card_key_series WHERE n = ?',
  // The WHERE refuses to move a card back to a retired SN, even from a stale writer (another desk
  // that read the row before a rotation was confirmed): PostgreSQL re-checks it on the newest row
  // version after waiting for a concurrent writer, SQLite has one writer at a time. RETURNING says
  // whether the row was written, on both engines.
  upsert: `INSERT INTO card_key_series (n, mk_version, sn, pending_sn, pending_mk_version, retired_count, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (n) DO UPDATE SET mk_version = excluded.mk_version, sn = excluded.sn,
         pending_sn = excluded.pending_sn, pending_mk_version = excluded.pending_mk_version,
         retired_count = excluded.retired_count, updated_at = excluded.updated_at
       WHERE excluded.sn >= card_key_series.sn
       RETURNING n`,
} as const;

export function cardSeriesParams(s: CardSeries, updatedAt: string): unknown[] {
  return [s.n, s.mkVersion, s.sn, s.pendingSn, s.pendingMkVersion, s.retiredCount, updatedAt];
}

export function cardSeriesFromRow(r: CardSeriesRow): CardSeries {
  return {
    n: r.n,
    mkVersion: r.mk_version,
    sn: r.sn,
    pendingSn: r.pending_sn,
    pendingMkVersion: r.pending_mk_version,
    retiredCount: r.retired_count,
  };
}

export function refusedMoveBack(n: string): Error {
  return new Error(`card ${n}: refusing to move back to a retired series number`);
}

export class SqliteCardSeriesStore implements CardSeriesStore {
  private readonly select;
  private readonly upsert;

  constructor(
    db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.select = db.prepare<[string], CardSeriesRow>(cardSeriesSql.select);
    this.upsert = db.prepare<unknown[], { n: string }>(cardSeriesSql.upsert);
  }

  async get(n: string): Promise<CardSeries | undefined> {
    const r = this.select.get(n);
    return r ? cardSeriesFromRow(r) : undefined;
  }

  async put(s: CardSeries): Promise<void> {
    const written = this.upsert.get(...cardSeriesParams(s, this.now().toISOString()));
    if (!written) throw refusedMoveBack(s.n);
  }
}

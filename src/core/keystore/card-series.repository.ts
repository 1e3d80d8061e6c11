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

export interface CardSeriesStore {
  get(n: string): CardSeries | undefined;
  /** Inserts or replaces the row for `series.n`. */
  put(series: CardSeries): void;
}

interface Row {
  n: string;
  mk_version: number;
  sn: number;
  pending_sn: number | null;
  pending_mk_version: number | null;
  retired_count: number;
}

export class SqliteCardSeriesStore implements CardSeriesStore {
  private readonly select;
  private readonly upsert;

  constructor(
    db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.select = db.prepare<[string], Row>('SELECT * FROM card_key_series WHERE n = ?');
    this.upsert = db.prepare(
      `INSERT INTO card_key_series (n, mk_version, sn, pending_sn, pending_mk_version, retired_count, updated_at)
       VALUES (@n, @mkVersion, @sn, @pendingSn, @pendingMkVersion, @retiredCount, @updatedAt)
       ON CONFLICT (n) DO UPDATE SET mk_version = excluded.mk_version, sn = excluded.sn,
         pending_sn = excluded.pending_sn, pending_mk_version = excluded.pending_mk_version,
         retired_count = excluded.retired_count, updated_at = excluded.updated_at
       WHERE excluded.sn >= card_key_series.sn`,
    );
  }

  get(n: string): CardSeries | undefined {
    const r = this.select.get(n);
    return r
      ? {
          n: r.n,
          mkVersion: r.mk_version,
          sn: r.sn,
          pendingSn: r.pending_sn,
          pendingMkVersion: r.pending_mk_version,
          retiredCount: r.retired_count,
        }
      : undefined;
  }

  put(s: CardSeries): void {
    const res = this.upsert.run({ ...s, updatedAt: this.now().toISOString() });
    // The WHERE above refuses to move a card back to a retired SN, even from a stale writer.
    if (res.changes !== 1) throw new Error(`card ${s.n}: refusing to move back to a retired series number`);
  }
}

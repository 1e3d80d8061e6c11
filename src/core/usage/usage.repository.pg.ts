import type { UsageFilter } from '../../shared/contract/usage.contract';
import type { PgTransactor } from '../db/pg/pg-database';
import { foldUsesPg, PG_ALL_DAYS_SQL, PG_BRANCH_DAYS_SQL, serverNow } from './usage-rollup.pg';
import { UsageReview, type Frag } from './usage.repository';

// The usage review on PostgreSQL (issue 12): every query is UsageReview's, the very text SQLite runs.
// Only uses per day differ: the rollup is folded by closed days, not by rowid (usage-rollup.pg.ts),
// and the days not folded yet are counted live in the same statement.

export interface PgUsageOptions {
  /**
   * Whose clock says which days have ended. Default: the database server's, one clock for every
   * desk (a desk's own clock running fast must not fold a day early). Tests pass a fixed time.
   */
  readonly now?: () => Date;
}

export class PgUsageRepository extends UsageReview {
  constructor(
    private readonly db: PgTransactor,
    private readonly options: PgUsageOptions = {},
  ) {
    super();
  }

  protected all<T>(f: Frag): Promise<T[]> {
    return this.db.query<T & Record<string, unknown>>(f.sql, f.params);
  }

  /** Closes the days due (a no-op read when none is), then reads the rollup and the live days at once. */
  protected async usesPerDay(filter: UsageFilter, from: string, to: string): Promise<{ day: string; n: number }[]> {
    await this.fold();
    const days = [from.slice(0, 10), to.slice(0, 10)];
    const rows = filter.branch
      ? await this.db.query<{ day: string; uses: number }>(PG_BRANCH_DAYS_SQL, [
          filter.branch,
          ...days,
          filter.branch,
          from,
          to,
        ])
      : await this.db.query<{ day: string; uses: number }>(PG_ALL_DAYS_SQL, [...days, from, to]);
    return rows.map((r) => ({ day: r.day, n: r.uses }));
  }

  /** Folds the days that have closed; how many use marks this call folded. */
  async fold(): Promise<number> {
    const now = this.options.now ? this.options.now() : await serverNow(this.db);
    return foldUsesPg(this.db, now);
  }
}

import type { PgQueryable } from '../db/pg/pg-database';
import {
  cardSeriesFromRow,
  cardSeriesParams,
  cardSeriesSql,
  refusedMoveBack,
  type CardSeries,
  type CardSeriesRow,
  type CardSeriesStore,
} from './card-series.repository';

// Card key series on PostgreSQL (issue 12): SQLite's statements (cardSeriesSql), each one
// autocommitted statement at READ COMMITTED. The upsert's WHERE is re-checked on the newest row
// version after a concurrent writer commits, so a desk or instance that read the series before
// another confirmed a rotation cannot move the card back to the retired series number.

type Row = CardSeriesRow & Record<string, unknown>;

export class PgCardSeriesStore implements CardSeriesStore {
  constructor(
    private readonly db: PgQueryable,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(n: string): Promise<CardSeries | undefined> {
    const [r] = await this.db.query<Row>(cardSeriesSql.select, [n]);
    return r ? cardSeriesFromRow(r) : undefined;
  }

  async put(s: CardSeries): Promise<void> {
    const written = await this.db.query(cardSeriesSql.upsert, cardSeriesParams(s, this.now().toISOString()));
    if (written.length !== 1) throw refusedMoveBack(s.n);
  }
}

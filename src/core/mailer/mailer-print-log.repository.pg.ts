import type { CardState } from '../cards/card.repository';
import { sqlState, type PgTransactor } from '../db/pg/pg-database';
import {
  mailerLogPageSql,
  mailerPrintFromRow,
  mailerQueueSql,
  serialOf,
  type LogSort,
  type MailerPrintLogRepository,
  type MailerPrintRecord,
  type MailerPrintResult,
  type MailerPrintRow,
  type MailerQueueEntry,
  type NewMailerPrint,
} from './mailer-print-log.repository';

// The mailer print log on PostgreSQL (issue 12): desks of every branch reserve prints in one log,
// and the partial unique indexes of 0009 still decide which of two desks prints a card's mailer.
// Serials run in one sequence for the whole bank.

type Row = MailerPrintRow & Record<string, unknown>;

export class PgMailerPrintLogRepository implements MailerPrintLogRepository {
  constructor(private readonly db: PgTransactor) {}

  async reserve(p: NewMailerPrint): Promise<MailerPrintRecord | null> {
    try {
      return await this.db.transaction(async (tx) => {
        const [made] = await tx.query<{ id: number }>(
          `INSERT INTO mailer_prints (card_ref, n, key_sn, kind, reason, operator, approver, batch, started_at, result)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') RETURNING id`,
          [p.cardRef, p.n, p.keySn, p.kind, p.reason, p.operator, p.approver, p.batch, p.at],
        );
        if (!made) throw new Error('INSERT … RETURNING returned no row');
        const [row] = await tx.query<Row>('UPDATE mailer_prints SET serial = ? WHERE id = ? RETURNING *', [
          serialOf(made.id),
          made.id,
        ]);
        if (!row) throw new Error('UPDATE … RETURNING returned no row');
        return mailerPrintFromRow(row);
      }, 'read committed');
    } catch (err) {
      if (sqlState(err) === '23505') return null;
      throw err;
    }
  }

  async finish(
    id: number,
    result: Exclude<MailerPrintResult, 'pending'>,
    at: string,
    errorCode: string | null,
  ): Promise<MailerPrintRecord | null> {
    const [row] = await this.db.query<Row>(
      `UPDATE mailer_prints SET result = ?, finished_at = ?, error_code = ?
       WHERE id = ? AND result = 'pending' RETURNING *`,
      [result, at, errorCode, id],
    );
    return row ? mailerPrintFromRow(row) : null;
  }

  async abandonPending(before: string, at: string): Promise<number> {
    const rows = await this.db.query(
      `UPDATE mailer_prints SET result = 'uncertain', finished_at = ?, error_code = 'INTERRUPTED'
       WHERE result = 'pending' AND started_at < ? RETURNING id`,
      [at, before],
    );
    return rows.length;
  }

  async byCard(cardRef: number): Promise<MailerPrintRecord[]> {
    return (await this.db.query<Row>('SELECT * FROM mailer_prints WHERE card_ref = ? ORDER BY id', [cardRef])).map(
      mailerPrintFromRow,
    );
  }

  async page(opts: { sort: LogSort; desc: boolean; limit: number; offset: number }) {
    const rows = await this.db.query<Row>(mailerLogPageSql(opts.sort, opts.desc), [opts.limit, opts.offset]);
    const [count] = await this.db.query<{ total: number }>('SELECT count(*) AS total FROM mailer_prints');
    return { rows: rows.map(mailerPrintFromRow), total: count?.total ?? 0 };
  }

  async queue(opts: { states: readonly CardState[] }): Promise<MailerQueueEntry[]> {
    if (opts.states.length === 0) return [];
    return this.db.query<MailerQueueEntry & Record<string, unknown>>(mailerQueueSql(opts.states.length), [
      ...opts.states,
    ]);
  }
}

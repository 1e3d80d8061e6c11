import type { Database } from '../db/database';
import type { CardState } from '../cards/card.repository';

// The mailer print log (migration 0009) and the mailer queue read beside it. Async, one transaction
// per changing method, nothing awaited inside one, SQL kept here and portable (docs/storage.md).
// The partial unique indexes of 0009 decide races: of two desks reserving the same card's mailer,
// the INSERT of one fails and that call answers null.

export type MailerPrintKind = 'initial' | 'reprint';
export type MailerPrintResult = 'pending' | 'printed' | 'failed' | 'uncertain';

export interface MailerPrintRecord {
  readonly id: number;
  readonly serial: string;
  readonly cardRef: number;
  readonly n: string;
  readonly keySn: number;
  readonly kind: MailerPrintKind;
  readonly reason: string | null;
  readonly operator: string;
  readonly approver: string | null;
  readonly batch: string | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly result: MailerPrintResult;
  readonly errorCode: string | null;
}

export interface NewMailerPrint {
  readonly cardRef: number;
  readonly n: string;
  readonly keySn: number;
  readonly kind: MailerPrintKind;
  readonly reason: string | null;
  readonly operator: string;
  readonly approver: string | null;
  readonly batch: string | null;
  readonly at: string;
}

/** A card as the mailer queue shows it: who it belongs to and where its mailer stands. */
export interface MailerQueueEntry {
  readonly cardRef: number;
  readonly cardId: string;
  readonly n: string;
  readonly state: CardState;
  readonly customerId: number;
  readonly customerName: string;
  readonly enrolledAt: string;
  /** The newest print attempt that counts (printed or uncertain), if any. */
  readonly lastResult: MailerPrintResult | null;
  readonly lastSerial: string | null;
  readonly prints: number;
}

export const LOG_SORT = ['startedAt', 'serial', 'n', 'operator', 'result', 'kind'] as const;
export type LogSort = (typeof LOG_SORT)[number];

export interface MailerPrintLogRepository {
  /**
   * Reserves the serial and the row of one print, in state `pending`: null when a live mailer for this
   * series (or, for an initial print, for this card) exists already — the indexes of 0009 decide.
   */
  reserve(print: NewMailerPrint): Promise<MailerPrintRecord | null>;
  /** Ends a pending print; null if it was not pending (finished by someone else). */
  finish(
    id: number,
    result: Exclude<MailerPrintResult, 'pending'>,
    at: string,
    errorCode: string | null,
  ): Promise<MailerPrintRecord | null>;
  /** Pending prints started before `before` (a desk stopped mid-print) become `uncertain`. */
  abandonPending(before: string, at: string): Promise<number>;
  byCard(cardRef: number): Promise<MailerPrintRecord[]>;
  page(opts: { sort: LogSort; desc: boolean; limit: number; offset: number }): Promise<{
    rows: MailerPrintRecord[];
    total: number;
  }>;
  /** Cards awaiting activation or active, with where their mailer stands. */
  queue(opts: { states: readonly CardState[] }): Promise<MailerQueueEntry[]>;
}

interface PrintRow {
  id: number;
  serial: string;
  card_ref: number;
  n: string;
  key_sn: number;
  kind: MailerPrintKind;
  reason: string | null;
  operator: string;
  approver: string | null;
  batch: string | null;
  started_at: string;
  finished_at: string | null;
  result: MailerPrintResult;
  error_code: string | null;
}

const fromRow = (r: PrintRow): MailerPrintRecord => ({
  id: r.id,
  serial: r.serial,
  cardRef: r.card_ref,
  n: r.n,
  keySn: r.key_sn,
  kind: r.kind,
  reason: r.reason,
  operator: r.operator,
  approver: r.approver,
  batch: r.batch,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  result: r.result,
  errorCode: r.error_code,
});

const SORT_COLUMN: Record<LogSort, string> = {
  startedAt: 'started_at',
  serial: 'serial',
  n: 'n',
  operator: 'operator',
  result: 'result',
  kind: 'kind',
};

/** Serials run in one sequence per desk database, so a gap in the paper trail shows: M-000001, … */
export const serialOf = (id: number): string => `M-${String(id).padStart(6, '0')}`;

/**
 * The mailer queue's statement for `states` placeholders (both engines run it). The aliases are
 * quoted: PostgreSQL folds unquoted names to lower case.
 */
export const mailerQueueSql = (states: number): string =>
  `SELECT c.id AS "cardRef", c.card_id AS "cardId", c.n AS n, c.state AS state, c.customer_id AS "customerId",
     cu.full_name AS "customerName", c.enrolled_at AS "enrolledAt",
     (SELECT p.result FROM mailer_prints p WHERE p.card_ref = c.id AND p.result IN ('printed', 'uncertain', 'pending')
       ORDER BY p.id DESC LIMIT 1) AS "lastResult",
     (SELECT p.serial FROM mailer_prints p WHERE p.card_ref = c.id AND p.result IN ('printed', 'uncertain', 'pending')
       ORDER BY p.id DESC LIMIT 1) AS "lastSerial",
     (SELECT count(*) FROM mailer_prints p WHERE p.card_ref = c.id AND p.result IN ('printed', 'uncertain')) AS prints
   FROM cards c JOIN customers cu ON cu.id = c.customer_id
   WHERE c.state IN (${Array.from({ length: states }, () => '?').join(', ')})
   ORDER BY c.enrolled_at, c.id`;

/** The log page's statement; the column comes from a fixed list, never from input text. */
export const mailerLogPageSql = (sort: LogSort, desc: boolean): string =>
  `SELECT * FROM mailer_prints ORDER BY ${SORT_COLUMN[sort]} ${desc ? 'DESC' : 'ASC'}, id DESC LIMIT ? OFFSET ?`;

export class SqliteMailerPrintLogRepository implements MailerPrintLogRepository {
  constructor(private readonly db: Database) {}

  async reserve(p: NewMailerPrint): Promise<MailerPrintRecord | null> {
    const insert = this.db.prepare<unknown[], { id: number }>(
      `INSERT INTO mailer_prints (card_ref, n, key_sn, kind, reason, operator, approver, batch, started_at, result)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') RETURNING id`,
    );
    const setSerial = this.db.prepare<[string, number], PrintRow>(
      'UPDATE mailer_prints SET serial = ? WHERE id = ? RETURNING *',
    );
    try {
      return this.db.transaction(() => {
        const made = insert.get(p.cardRef, p.n, p.keySn, p.kind, p.reason, p.operator, p.approver, p.batch, p.at);
        if (!made) throw new Error('INSERT … RETURNING returned no row');
        const row = setSerial.get(serialOf(made.id), made.id);
        if (!row) throw new Error('UPDATE … RETURNING returned no row');
        return fromRow(row);
      })();
    } catch (err) {
      if (err instanceof Error && err.message.includes('UNIQUE')) return null;
      throw err;
    }
  }

  async finish(
    id: number,
    result: Exclude<MailerPrintResult, 'pending'>,
    at: string,
    errorCode: string | null,
  ): Promise<MailerPrintRecord | null> {
    const row = this.db
      .prepare<unknown[], PrintRow>(
        `UPDATE mailer_prints SET result = ?, finished_at = ?, error_code = ?
         WHERE id = ? AND result = 'pending' RETURNING *`,
      )
      .get(result, at, errorCode, id);
    return row ? fromRow(row) : null;
  }

  async abandonPending(before: string, at: string): Promise<number> {
    return this.db
      .prepare(
        `UPDATE mailer_prints SET result = 'uncertain', finished_at = ?, error_code = 'INTERRUPTED'
         WHERE result = 'pending' AND started_at < ?`,
      )
      .run(at, before).changes;
  }

  async byCard(cardRef: number): Promise<MailerPrintRecord[]> {
    return this.db
      .prepare<[number], PrintRow>('SELECT * FROM mailer_prints WHERE card_ref = ? ORDER BY id')
      .all(cardRef)
      .map(fromRow);
  }

  async page(opts: { sort: LogSort; desc: boolean; limit: number; offset: number }) {
    const rows = this.db
      .prepare<[number, number], PrintRow>(mailerLogPageSql(opts.sort, opts.desc))
      .all(opts.limit, opts.offset)
      .map(fromRow);
    const total = this.db.prepare<[], { total: number }>('SELECT count(*) AS total FROM mailer_prints').get()?.total;
    return { rows, total: total ?? 0 };
  }

  async queue(opts: { states: readonly CardState[] }): Promise<MailerQueueEntry[]> {
    if (opts.states.length === 0) return [];
    return this.db.prepare<unknown[], MailerQueueEntry>(mailerQueueSql(opts.states.length)).all(...opts.states);
  }
}

/** For the PostgreSQL implementation beside this one (mailer-print-log.repository.pg.ts). */
export { fromRow as mailerPrintFromRow, type PrintRow as MailerPrintRow };

import type { AuditEntry } from '../../shared/contract/audit.contract';
import { AppError } from '../errors';
import type { AuditRow } from './audit.service';

export interface AuditFilter {
  operator?: string | undefined;
  actionPrefix?: string | undefined;
  outcome?: 'ok' | 'denied' | 'failed' | undefined;
  /** UTC days, inclusive. */
  from?: string | undefined;
  to?: string | undefined;
  text?: string | undefined;
  page: number;
  pageSize: number;
}

/** An audit row as the contract answers it. */
export const auditEntryOf = (r: AuditRow): AuditEntry => ({
  seq: r.seq,
  at: r.at,
  operatorId: r.operator_id,
  operator: r.operator,
  role: r.role,
  action: r.action,
  object: r.object,
  outcome: r.outcome,
  details: r.details,
});

const like = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** A filtered audit page as SQL both engines run, every value bound as a parameter. */
export interface AuditQuerySql {
  readonly count: string;
  readonly page: string;
  /** The filter's values, for `count` and then `page`. */
  readonly params: readonly (string | number)[];
  /** LIMIT and OFFSET, after `params` for `page`. */
  readonly pageParams: readonly [number, number];
}

/**
 * The auditors' page: newest first, every filter optional. Matching ignores case the same way on
 * both engines: lower() on both sides, since SQLite's LIKE ignores ASCII case and PostgreSQL's does
 * not, and COLLATE NOCASE is SQLite's own. The backslash escapes %, _ and itself in LIKE patterns.
 */
export function auditQuerySql(f: AuditFilter): AuditQuerySql {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (f.operator) {
    where.push('lower(operator) = lower(?)');
    params.push(f.operator);
  }
  if (f.actionPrefix) {
    where.push("lower(action) LIKE lower(?) ESCAPE '\\'");
    params.push(`${like(f.actionPrefix)}%`);
  }
  if (f.outcome) {
    where.push('outcome = ?');
    params.push(f.outcome);
  }
  if (f.from) {
    where.push('at >= ?');
    params.push(f.from);
  }
  if (f.to) {
    // `at` is a full ISO time; everything on the last day sorts below the next day's date.
    where.push('at < ?');
    params.push(nextDay(f.to));
  }
  if (f.text) {
    where.push(
      "lower(coalesce(operator,'') || ' ' || action || ' ' || coalesce(object,'') || ' ' || details) LIKE lower(?) ESCAPE '\\'",
    );
    params.push(`%${like(f.text)}%`);
  }
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  return {
    count: `SELECT count(*) AS n FROM audit_log ${clause}`,
    page: `SELECT * FROM audit_log ${clause} ORDER BY seq DESC LIMIT ? OFFSET ?`,
    params,
    pageParams: [f.pageSize, (f.page - 1) * f.pageSize],
  };
}

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00.000Z`);
  if (Number.isNaN(d.getTime())) throw new AppError('VALIDATION', `Check the input: to: ${day} is not a date.`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

import type { Database } from 'better-sqlite3';
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

/** The auditors' page: newest first, every filter optional, all values bound as parameters. */
export function queryAudit(
  db: Database,
  f: AuditFilter,
): { total: number; page: number; pageSize: number; entries: AuditEntry[] } {
  const where: string[] = [];
  const args: Record<string, string | number> = {};
  if (f.operator) {
    where.push('operator = @operator COLLATE NOCASE');
    args.operator = f.operator;
  }
  if (f.actionPrefix) {
    where.push("action LIKE @action ESCAPE '\\'");
    args.action = `${like(f.actionPrefix)}%`;
  }
  if (f.outcome) {
    where.push('outcome = @outcome');
    args.outcome = f.outcome;
  }
  if (f.from) {
    where.push('at >= @from');
    args.from = f.from;
  }
  if (f.to) {
    // `at` is a full ISO time; everything on the last day sorts below the next day's date.
    where.push('at < @to');
    args.to = nextDay(f.to);
  }
  if (f.text) {
    where.push(
      "(coalesce(operator,'') || ' ' || action || ' ' || coalesce(object,'') || ' ' || details) LIKE @text ESCAPE '\\'",
    );
    args.text = `%${like(f.text)}%`;
  }
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const total = (db.prepare(`SELECT count(*) AS n FROM audit_log ${clause}`).get(args) as { n: number }).n;
  const rows = db
    .prepare(`SELECT * FROM audit_log ${clause} ORDER BY seq DESC LIMIT @limit OFFSET @offset`)
    .all({ ...args, limit: f.pageSize, offset: (f.page - 1) * f.pageSize }) as AuditRow[];
  return {
    total,
    page: f.page,
    pageSize: f.pageSize,
    entries: rows.map(auditEntryOf),
  };
}

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00.000Z`);
  if (Number.isNaN(d.getTime())) throw new AppError('VALIDATION', `Check the input: to: ${day} is not a date.`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

import { z } from 'zod';
import {
  USAGE_GROUPS,
  usageFilterSchema,
  type UsageFilter,
  type UsageGroup,
  type UsageRow,
} from '../../shared/contract/usage.contract';
import { PAGE_ACCESS } from '../../shared/roles';
import type { AuditTrail } from '../audit/audit.service';
import type { Session, SessionStore } from '../auth/session.store';
import { AppError } from '../errors';
import type { UsageRepository } from './usage.repository';

// The usage table as CSV, streamed: the transport (src/host) asks for one batch of rows at a time
// and writes it before the next is read, so an export of a million cards never sits in memory.
// It is not a contract channel (a channel answers with one value), so it repeats the router's checks
// here: a live session, a usage role, a changed password, validated filters, and an audit entry.

export const USAGE_CSV_COLUMNS = [
  'key',
  'card_id',
  'n',
  'card_state',
  'customer',
  'customer_ref',
  'branch',
  'cards',
  'issued',
  'used',
  'remaining',
  'refills_due',
  'uses_in_range',
  'rejections',
  'suspicions',
  'open_suspicions',
  'drift',
] as const;

/** A file the operator chose to save into (Electron main: a save dialog and a file stream). */
export interface FileSink {
  /** Resolves once the chunk is handed to the file (waits for the stream to drain). */
  write(chunk: string): Promise<void>;
  close(): Promise<void>;
  /** Removes what was written: a failed export leaves no partial file behind. */
  abort(): Promise<void>;
}
/** Asks where to save `suggestedName`; null when the operator cancels. */
export type FileSaver = (suggestedName: string) => Promise<FileSink | null>;

const exportQuerySchema = z.object({ filter: usageFilterSchema, by: z.enum(USAGE_GROUPS).default('card') }).strict();

/** RFC 4180 quoting, and a leading quote for text a spreadsheet would run as a formula. */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvLine(r: UsageRow): string {
  const values: (string | number | null)[] = [
    r.key,
    r.cardId,
    r.n,
    r.cardState,
    r.customer,
    r.customerRef,
    r.branch,
    r.cards,
    r.issued,
    r.used,
    r.remaining,
    r.refillsDue,
    r.usesInRange,
    r.rejections,
    r.suspicions,
    r.openSuspicions,
    r.drift,
  ];
  return values.map(csvField).join(',') + '\r\n';
}

const usageCsvName = (by: UsageGroup) => `otac-usage-by-${by}-${new Date().toISOString().slice(0, 10)}.csv`;

export class UsageCsvExport {
  constructor(
    private readonly deps: {
      readonly usage: UsageRepository;
      readonly sessions: SessionStore;
      readonly audit: AuditTrail;
    },
  ) {}

  /**
   * Checks the caller and the query (URL search parameters: from, to, branch, q, reason, by) and
   * returns the file's name and its text in chunks (the header, then one chunk per batch of rows).
   * Throws AppError before anything is read when the caller may not export.
   */
  async open(clientId: string, params: URLSearchParams): Promise<{ fileName: string; chunks: AsyncGenerator<string> }> {
    const session = this.deps.sessions.get(clientId).session;
    if (!session) throw new AppError('AUTH_REQUIRED', 'Sign in first.');
    if (!PAGE_ACCESS.usage.includes(session.role)) {
      await this.deps.audit.append({
        operatorId: session.operatorId,
        operator: session.username,
        role: session.role,
        action: 'access.denied',
        object: 'usage:export',
        outcome: 'denied',
      });
      throw new AppError('FORBIDDEN', 'Your role may not use this function. Ask an operator with the right role.');
    }
    if (session.mustChangePassword)
      throw new AppError('PASSWORD_CHANGE_REQUIRED', 'Change your password before you continue.');
    const filter: Record<string, string> = {};
    for (const k of ['from', 'to', 'branch', 'q', 'reason'] as const) {
      const v = params.get(k);
      if (v) filter[k] = v;
    }
    const parsed = exportQuerySchema.safeParse({ filter, ...(params.get('by') ? { by: params.get('by') } : {}) });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AppError(
        'VALIDATION',
        `Check the export's filters: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
      );
    }
    const { filter: f, by } = parsed.data;
    await this.audited(session, f, by);
    return { fileName: usageCsvName(by), chunks: this.chunks(f, by) };
  }

  /**
   * The Electron window's export (channel `usage:export`, its access checked by the router): the
   * operator picks a file in main, and the rows go into it batch by batch as they are read.
   */
  async saveTo(
    session: Session,
    filter: UsageFilter,
    by: UsageGroup,
    saver: FileSaver | undefined,
  ): Promise<{ status: 'saved' | 'cancelled'; rows: number }> {
    if (!saver)
      throw new AppError(
        'EXPORT_UNAVAILABLE',
        'Use the Export CSV link of the page: this desk downloads files itself.',
      );
    const sink = await saver(usageCsvName(by));
    if (!sink) return { status: 'cancelled', rows: 0 };
    await this.audited(session, filter, by);
    let rows = -1; // the header is not a row
    try {
      for await (const chunk of this.chunks(filter, by)) {
        await sink.write(chunk);
        rows += chunk.split('\r\n').length - 1;
      }
      await sink.close();
    } catch (err) {
      await sink.abort();
      throw err;
    }
    return { status: 'saved', rows };
  }

  private audited(session: Session, filter: UsageFilter, by: UsageGroup): Promise<void> {
    return this.deps.audit.append({
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
      action: 'usage.export',
      outcome: 'ok',
      details: { by, ...filter },
    });
  }

  private async *chunks(filter: UsageFilter, by: UsageGroup): AsyncGenerator<string> {
    yield USAGE_CSV_COLUMNS.join(',') + '\r\n';
    for await (const batch of this.deps.usage.batches(filter, by)) yield batch.map(csvLine).join('');
  }
}

import type { Database } from '../db/database';
import { nameKey } from '../customers/customer.repository';
import { ALL_DAYS_SQL, BRANCH_DAYS_SQL, foldUses } from './usage-rollup';
import type {
  RejectionReason,
  SuspicionRow,
  UsageFilter,
  UsageGroup,
  UsageRow,
  UsageSort,
  UsageSummary,
} from '../../shared/contract/usage.contract';

/** One sorted page of a usage table; `after` (export only) continues after that key, in key order. */
export interface UsagePageQuery {
  readonly filter: UsageFilter;
  readonly by: UsageGroup;
  readonly sort: UsageSort;
  readonly desc: boolean;
  readonly page: number;
  readonly pageSize: number;
}

/**
 * What the usage review reads (docs/usage-review.md). Read-only but for the daily rollup it keeps up to
 * date (usage-rollup.ts), async, portable SQL (docs/storage.md):
 * times are ISO-8601 text compared as text, days are `substr(at, 1, 10)`, parameters positional.
 */
export interface UsageRepository {
  summary(filter: UsageFilter): Promise<UsageSummary>;
  rows(q: UsagePageQuery): Promise<{ total: number; rows: UsageRow[] }>;
  suspicions(
    filter: UsageFilter,
    openOnly: boolean,
    page: number,
    pageSize: number,
  ): Promise<{ total: number; rows: SuspicionRow[] }>;
  /** Every row of the table in key order, a batch at a time: what the CSV export streams. */
  batches(filter: UsageFilter, by: UsageGroup, batchSize?: number): AsyncGenerator<UsageRow[]>;
}

/** A piece of SQL and its positional parameters, in order. */
export interface Frag {
  readonly sql: string;
  readonly params: unknown[];
}
const frag = (sql: string, ...params: unknown[]): Frag => ({ sql, params });
function join(parts: Frag[], sep: string): Frag {
  return { sql: parts.map((p) => p.sql).join(sep), params: parts.flatMap((p) => p.params) };
}

const DELIVERED = "('active', 'superseded', 'disabled')";
// Sums are cast to BIGINT: PostgreSQL's SUM of a bigint is numeric, which its driver returns as text;
// on SQLite the cast of an integer sum (or NULL) changes nothing.
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The range's bounds as ISO text: from the first day's midnight (inclusive) to the day after the last (exclusive). */
export function rangeBounds(filter: UsageFilter): { from: string; to: string } {
  const from = filter.from ? `${filter.from}T00:00:00.000Z` : '0000';
  let to = '9999';
  if (filter.to) {
    const next = new Date(`${filter.to}T00:00:00.000Z`);
    next.setUTCDate(next.getUTCDate() + 1);
    to = next.toISOString();
  }
  return { from, to };
}

// Per card (alias c), each figure as a correlated subquery: the table's page computes them only for
// its own rows (found first through the indexes), and a group sums them.
function figures(
  filter: UsageFilter,
): Record<Exclude<UsageSort, 'key' | 'customer' | 'branch'> | 'refillsDue' | 'openSuspicions' | 'drift', Frag> {
  const { from, to } = rangeBounds(filter);
  const reason = filter.reason ? frag(' AND r.reason = ?', filter.reason) : frag('');
  return {
    issued: frag(
      `(SELECT CAST(COALESCE(SUM(l.length), 0) AS BIGINT) FROM code_lists l WHERE l.card_ref = c.id AND l.state IN ${DELIVERED})`,
    ),
    used: frag(
      `(SELECT CAST(COALESCE(SUM(l.used_count), 0) AS BIGINT) FROM code_lists l WHERE l.card_ref = c.id AND l.state IN ${DELIVERED})`,
    ),
    remaining: frag(
      "(SELECT CAST(COALESCE(SUM(l.length - l.used_count), 0) AS BIGINT) FROM code_lists l WHERE l.card_ref = c.id AND l.state = 'active')",
    ),
    refillsDue: frag(
      "(SELECT count(*) FROM code_lists l WHERE l.card_ref = c.id AND l.state = 'active' AND l.refill_due = 1)",
    ),
    usesInRange: frag(
      '(SELECT count(*) FROM code_lists l JOIN code_uses u ON u.list_ref = l.id WHERE l.card_ref = c.id AND u.used_at >= ? AND u.used_at < ?)',
      from,
      to,
    ),
    rejections: frag(
      `(SELECT count(*) FROM verify_rejections r WHERE r.card_ref = c.id AND r.at >= ? AND r.at < ?${reason.sql})`,
      from,
      to,
      ...reason.params,
    ),
    suspicions: frag(
      '(SELECT count(*) FROM suspicion_events s WHERE s.card_ref = c.id AND s.occurred_at >= ? AND s.occurred_at < ?)',
      from,
      to,
    ),
    openSuspicions: frag(
      '(SELECT count(*) FROM suspicion_events s WHERE s.card_ref = c.id AND s.occurred_at >= ? AND s.occurred_at < ? AND s.resolved_at IS NULL)',
      from,
      to,
    ),
    drift: frag(
      "(SELECT s.drift FROM suspicion_events s WHERE s.card_ref = c.id AND s.kind = 'counter_drift' ORDER BY s.occurred_at DESC, s.id DESC LIMIT 1)",
    ),
  };
}

/**
 * Which cards (c, joined to their customer cu) the filter keeps. With `byReason`, only cards refused
 * for that reason in the range (the tables); the refusal counts apply the reason themselves.
 */
function cardWhere(filter: UsageFilter, byReason: boolean): Frag {
  const parts: Frag[] = [frag('1 = 1')];
  if (filter.branch) parts.push(frag('cu.branch = ?', filter.branch));
  const q = filter.q?.trim();
  if (q) {
    const folded = likeEscape(nameKey(q));
    parts.push(
      frag(
        "(c.card_id = ? OR c.n = ? OR cu.customer_ref = ? OR cu.name_key LIKE ? ESCAPE '\\' OR cu.name_key LIKE ? ESCAPE '\\')",
        q.toUpperCase(),
        q.toUpperCase().replace(/[\s-]/g, ''),
        q,
        `${folded}%`,
        `% ${folded}%`,
      ),
    );
  }
  if (byReason && filter.reason) {
    const { from, to } = rangeBounds(filter);
    parts.push(
      frag(
        'EXISTS (SELECT 1 FROM verify_rejections r WHERE r.card_ref = c.id AND r.reason = ? AND r.at >= ? AND r.at < ?)',
        filter.reason,
        from,
        to,
      ),
    );
  }
  return join(parts, ' AND ');
}

const hasCardFilter = (f: UsageFilter) => Boolean(f.branch || f.q?.trim());

/** How each grouping names its rows: the column the page is keyed and ordered by. */
const GROUP_KEY: Record<UsageGroup, string> = { card: 'c.card_id', customer: 'cu.id', branch: 'cu.branch' };

interface RawRow {
  key: string | number;
  card_id: string | null;
  n: string | null;
  card_state: string | null;
  customer: string | null;
  customer_ref: string | null;
  branch: string;
  cards: number;
  issued: number;
  used: number;
  remaining: number;
  refills_due: number;
  uses_in_range: number;
  rejections: number;
  suspicions: number;
  open_suspicions: number;
  drift: number | null;
}

/**
 * The review's queries, engine-neutral: every statement is built here once and run by the engine's
 * subclass (SqliteUsageRepository below, PgUsageRepository in usage.repository.pg.ts), so the two
 * cannot drift. Only "uses per day" differs: each engine keeps its rollup its own way.
 */
export abstract class UsageReview implements UsageRepository {
  /** Runs one statement and returns its rows. */
  protected abstract all<T>(f: Frag): Promise<T[]>;
  /**
   * Uses per day in [from, to) for the branch filter (or every branch), exactly: the rollup and
   * whatever it has not folded yet.
   */
  protected abstract usesPerDay(filter: UsageFilter, from: string, to: string): Promise<{ day: string; n: number }[]>;

  /** The one row of an aggregate statement (which always has one). */
  private async first<T>(f: Frag): Promise<T> {
    const [row] = await this.all<T>(f);
    if (row === undefined) throw new Error('an aggregate statement returned no row');
    return row;
  }

  async summary(filter: UsageFilter): Promise<UsageSummary> {
    const { from, to } = rangeBounds(filter);
    const cards = cardWhere(filter, true);
    const lists = await this.first<{
      issued: number | null;
      used: number | null;
      remaining: number | null;
      due: number | null;
    }>(
      join(
        [
          frag(`SELECT
              CAST(SUM(CASE WHEN l.state IN ${DELIVERED} THEN l.length ELSE 0 END) AS BIGINT) AS issued,
              CAST(SUM(CASE WHEN l.state IN ${DELIVERED} THEN l.used_count ELSE 0 END) AS BIGINT) AS used,
              CAST(SUM(CASE WHEN l.state = 'active' THEN l.length - l.used_count ELSE 0 END) AS BIGINT) AS remaining,
              CAST(SUM(CASE WHEN l.state = 'active' AND l.refill_due = 1 THEN 1 ELSE 0 END) AS BIGINT) AS due
            FROM code_lists l JOIN cards c ON c.id = l.card_ref JOIN customers cu ON cu.id = c.customer_id WHERE`),
          cards,
        ],
        ' ',
      ),
    );
    const cardCount = (
      await this.first<{ n: number }>(
        join([frag('SELECT count(*) AS n FROM cards c JOIN customers cu ON cu.id = c.customer_id WHERE'), cards], ' '),
      )
    ).n;

    // Uses per day: by branch (or all of them) from the daily rollup (usage-rollup.ts); a search or a
    // reason narrows to cards, whose uses the time index finds in the range.
    const usesSql =
      filter.q?.trim() || filter.reason
        ? join(
            [
              frag(
                `SELECT substr(u.used_at, 1, 10) AS day, count(*) AS n FROM code_uses u
                 JOIN code_lists l ON l.id = u.list_ref JOIN cards c ON c.id = l.card_ref JOIN customers cu ON cu.id = c.customer_id
                 WHERE u.used_at >= ? AND u.used_at < ? AND`,
                from,
                to,
              ),
              cards,
              frag('GROUP BY substr(u.used_at, 1, 10)'),
            ],
            ' ',
          )
        : null;
    const uses = usesSql
      ? await this.all<{ day: string; n: number }>(usesSql)
      : await this.usesPerDay(filter, from, to);

    // Refusals per day and reason. An unknown N has no card: it counts unless a branch or search narrows to cards.
    const refusalWhere: Frag[] = [frag('r.at >= ? AND r.at < ?', from, to)];
    if (filter.reason) refusalWhere.push(frag('r.reason = ?', filter.reason));
    const refusalFrom = hasCardFilter(filter)
      ? join(
          [
            frag(
              'FROM verify_rejections r JOIN cards c ON c.id = r.card_ref JOIN customers cu ON cu.id = c.customer_id WHERE',
            ),
            join([...refusalWhere, cardWhere(filter, false)], ' AND '),
          ],
          ' ',
        )
      : join([frag('FROM verify_rejections r WHERE'), join(refusalWhere, ' AND ')], ' ');
    const refusals = await this.all<{ day: string; reason: RejectionReason; n: number }>(
      join(
        [
          frag('SELECT substr(r.at, 1, 10) AS day, r.reason AS reason, count(*) AS n'),
          refusalFrom,
          frag('GROUP BY substr(r.at, 1, 10), r.reason'),
        ],
        ' ',
      ),
    );

    const perDay = new Map<string, UsageSummary['perDay'][number]>();
    const dayOf = (d: string) => {
      let e = perDay.get(d);
      if (!e) perDay.set(d, (e = { day: d, uses: 0, rejections: [] }));
      return e;
    };
    for (const u of uses) dayOf(u.day).uses = u.n;
    const byReason = new Map<RejectionReason, number>();
    for (const r of refusals) {
      dayOf(r.day).rejections.push({ reason: r.reason, count: r.n });
      byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + r.n);
    }

    const suspicionRows = await this.first<{ total: number; open: number | null }>(
      join(
        [
          frag(
            `SELECT count(*) AS total, CAST(SUM(CASE WHEN s.resolved_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS open
             FROM suspicion_events s JOIN cards c ON c.id = s.card_ref JOIN customers cu ON cu.id = c.customer_id
             WHERE s.occurred_at >= ? AND s.occurred_at < ? AND`,
            from,
            to,
          ),
          cards,
        ],
        ' ',
      ),
    );
    // The largest drift among each card's latest counter comparison (a later comparison supersedes).
    const maxDrift = (
      await this.first<{ drift: number | null }>(
        join(
          [
            frag(`SELECT MAX(s.drift) AS drift FROM suspicion_events s JOIN cards c ON c.id = s.card_ref
                JOIN customers cu ON cu.id = c.customer_id
                WHERE s.kind = 'counter_drift' AND NOT EXISTS (SELECT 1 FROM suspicion_events s2
                  WHERE s2.card_ref = s.card_ref AND s2.kind = 'counter_drift'
                  AND (s2.occurred_at > s.occurred_at OR (s2.occurred_at = s.occurred_at AND s2.id > s.id))) AND`),
            cards,
          ],
          ' ',
        ),
      )
    ).drift;

    const byBranch = await this.all<{ branch: string; cards: number; remaining: number | null; due: number | null }>(
      join(
        [
          frag(`SELECT cu.branch AS branch, count(DISTINCT c.id) AS cards,
                  CAST(SUM(CASE WHEN l.state = 'active' THEN l.length - l.used_count ELSE 0 END) AS BIGINT) AS remaining,
                  CAST(SUM(CASE WHEN l.state = 'active' AND l.refill_due = 1 THEN 1 ELSE 0 END) AS BIGINT) AS due
                FROM cards c JOIN customers cu ON cu.id = c.customer_id LEFT JOIN code_lists l ON l.card_ref = c.id WHERE`),
          cards,
          frag('GROUP BY cu.branch ORDER BY cu.branch'),
        ],
        ' ',
      ),
    );

    return {
      cards: cardCount,
      issued: lists?.issued ?? 0,
      used: lists?.used ?? 0,
      remaining: lists?.remaining ?? 0,
      refillsDue: lists?.due ?? 0,
      usesInRange: uses.reduce((a, u) => a + u.n, 0),
      rejections: refusals.reduce((a, r) => a + r.n, 0),
      rejectionsByReason: [...byReason].map(([reason, count]) => ({ reason, count })),
      suspicions: suspicionRows.total,
      openSuspicions: suspicionRows.open ?? 0,
      maxDrift,
      perDay: [...perDay.values()].sort((a, b) => (a.day < b.day ? -1 : 1)),
      byBranch: byBranch.map((b) => ({
        branch: b.branch,
        cards: b.cards,
        remaining: b.remaining ?? 0,
        refillsDue: b.due ?? 0,
      })),
    };
  }

  async rows(q: UsagePageQuery): Promise<{ total: number; rows: UsageRow[] }> {
    const where = cardWhere(q.filter, true);
    const key = GROUP_KEY[q.by];
    const from = frag('FROM cards c JOIN customers cu ON cu.id = c.customer_id WHERE');
    const total = (
      await this.first<{ n: number }>(
        q.by === 'card'
          ? join([frag('SELECT count(*) AS n'), from, where], ' ')
          : join([frag(`SELECT count(DISTINCT ${key}) AS n`), from, where], ' '),
      )
    ).n;
    const keys = await this.pageKeys(q, where, null);
    return { total, rows: await this.rowsFor(q.filter, q.by, keys) };
  }

  /** Step one: the page's keys, in order, through the indexes (only an aggregate sort computes its figure for all). */
  private async pageKeys(q: UsagePageQuery, where: Frag, after: string | number | null): Promise<(string | number)[]> {
    const key = GROUP_KEY[q.by];
    const dir = q.desc ? 'DESC' : 'ASC';
    const f = figures(q.filter);
    const grouped = q.by !== 'card';
    let order: Frag;
    switch (q.sort) {
      case 'key':
        order = frag(key);
        break;
      case 'customer':
        order = frag(grouped ? 'MIN(cu.name_key)' : 'cu.name_key');
        break;
      case 'branch':
        order = frag(grouped ? 'MIN(cu.branch)' : 'cu.branch');
        break;
      default: {
        const fig = f[q.sort];
        order = grouped ? frag(`SUM(${fig.sql})`, ...fig.params) : fig;
      }
    }
    const parts: Frag[] = [
      frag(`SELECT ${key} AS k`),
      frag('FROM cards c JOIN customers cu ON cu.id = c.customer_id WHERE'),
      where,
    ];
    if (after !== null) parts.push(frag(`AND ${key} > ?`, after));
    if (grouped) parts.push(frag(`GROUP BY ${key}`));
    parts.push(
      frag('ORDER BY'),
      order,
      frag(`${dir}, ${key} ${dir} LIMIT ? OFFSET ?`, q.pageSize, after !== null ? 0 : (q.page - 1) * q.pageSize),
    );
    return (await this.all<{ k: string | number }>(join(parts, ' '))).map((r) => r.k);
  }

  /** Step two: the figures for the page's keys only, returned in the page's order. */
  private async rowsFor(filter: UsageFilter, by: UsageGroup, keys: (string | number)[]): Promise<UsageRow[]> {
    if (keys.length === 0) return [];
    const f = figures(filter);
    const key = GROUP_KEY[by];
    const sum = (x: Frag, name: string) => ({ sql: `CAST(SUM(${x.sql}) AS BIGINT) AS ${name}`, params: x.params });
    const identity =
      by === 'card'
        ? frag(`c.card_id AS key, c.card_id AS card_id, c.n AS n, c.state AS card_state, cu.full_name AS customer,
                cu.customer_ref AS customer_ref, cu.branch AS branch, 1 AS cards`)
        : by === 'customer'
          ? frag(`cu.id AS key, NULL AS card_id, NULL AS n, NULL AS card_state, MIN(cu.full_name) AS customer,
                MIN(cu.customer_ref) AS customer_ref, MIN(cu.branch) AS branch, count(*) AS cards`)
          : frag(`cu.branch AS key, NULL AS card_id, NULL AS n, NULL AS card_state, NULL AS customer,
                NULL AS customer_ref, cu.branch AS branch, count(*) AS cards`);
    const cols: Frag[] =
      by === 'card'
        ? [
            identity,
            join([f.issued, frag('AS issued')], ' '),
            join([f.used, frag('AS used')], ' '),
            join([f.remaining, frag('AS remaining')], ' '),
            join([f.refillsDue, frag('AS refills_due')], ' '),
            join([f.usesInRange, frag('AS uses_in_range')], ' '),
            join([f.rejections, frag('AS rejections')], ' '),
            join([f.suspicions, frag('AS suspicions')], ' '),
            join([f.openSuspicions, frag('AS open_suspicions')], ' '),
            join([f.drift, frag('AS drift')], ' '),
          ]
        : [
            identity,
            sum(f.issued, 'issued'),
            sum(f.used, 'used'),
            sum(f.remaining, 'remaining'),
            sum(f.refillsDue, 'refills_due'),
            sum(f.usesInRange, 'uses_in_range'),
            sum(f.rejections, 'rejections'),
            sum(f.suspicions, 'suspicions'),
            sum(f.openSuspicions, 'open_suspicions'),
            { sql: `MAX(${f.drift.sql}) AS drift`, params: f.drift.params },
          ];
    // The group's figures count every card of the group that the filter keeps.
    const raw = await this.all<RawRow>(
      join(
        [
          frag('SELECT'),
          join(cols, ', '),
          frag('FROM cards c JOIN customers cu ON cu.id = c.customer_id WHERE'),
          cardWhere(filter, true),
          frag(`AND ${key} IN (${keys.map(() => '?').join(', ')})`, ...keys),
          by === 'card' ? frag('') : frag(`GROUP BY ${key}`),
        ],
        ' ',
      ),
    );
    const byKey = new Map(raw.map((r) => [r.key, r]));
    return keys.flatMap((k) => {
      const r = byKey.get(k);
      return r ? [toRow(r)] : [];
    });
  }

  async suspicions(
    filter: UsageFilter,
    openOnly: boolean,
    page: number,
    pageSize: number,
  ): Promise<{ total: number; rows: SuspicionRow[] }> {
    const { from, to } = rangeBounds(filter);
    const where = join(
      [
        frag('s.occurred_at >= ? AND s.occurred_at < ?', from, to),
        openOnly ? frag('s.resolved_at IS NULL') : frag('1 = 1'),
        cardWhere(filter, true),
      ],
      ' AND ',
    );
    const base = frag(
      'FROM suspicion_events s JOIN cards c ON c.id = s.card_ref JOIN customers cu ON cu.id = c.customer_id WHERE',
    );
    const total = (await this.first<{ n: number }>(join([frag('SELECT count(*) AS n'), base, where], ' '))).n;
    const rows = await this.all<{
      id: number;
      card_id: string;
      n: string;
      customer: string;
      branch: string;
      kind: SuspicionRow['kind'];
      code_index: number | null;
      drift: number | null;
      source: string;
      occurred_at: string;
      resolved_at: string | null;
      resolved_by: string | null;
      resolution: string | null;
    }>(
      join(
        [
          frag(`SELECT s.id, c.card_id, c.n, cu.full_name AS customer, cu.branch, s.kind, s.code_index, s.drift, s.source,
                  s.occurred_at, s.resolved_at, s.resolved_by, s.resolution`),
          base,
          where,
          frag('ORDER BY s.occurred_at DESC, s.id DESC LIMIT ? OFFSET ?', pageSize, (page - 1) * pageSize),
        ],
        ' ',
      ),
    );
    return {
      total,
      rows: rows.map((r) => ({
        id: r.id,
        cardId: r.card_id,
        n: r.n,
        customer: r.customer,
        branch: r.branch,
        kind: r.kind,
        codeIndex: r.code_index,
        drift: r.drift,
        source: r.source,
        occurredAt: r.occurred_at,
        resolvedAt: r.resolved_at,
        resolvedBy: r.resolved_by,
        resolution: r.resolution,
      })),
    };
  }

  async *batches(filter: UsageFilter, by: UsageGroup, batchSize = 500): AsyncGenerator<UsageRow[]> {
    const where = cardWhere(filter, true);
    const q: UsagePageQuery = { filter, by, sort: 'key', desc: false, page: 1, pageSize: batchSize };
    let after: string | number | null = null;
    for (;;) {
      // Keyset, not offset: each batch starts after the last key, so a long export stays linear.
      const keys = await this.pageKeys(q, where, after);
      if (keys.length === 0) return;
      yield await this.rowsFor(filter, by, keys);
      if (keys.length < batchSize) return;
      after = keys[keys.length - 1]!;
    }
  }
}

/** The review on the desk's SQLite file; its rollup is folded by rowid (usage-rollup.ts). */
export class SqliteUsageRepository extends UsageReview {
  constructor(private readonly db: Database) {
    super();
  }

  protected async all<T>(f: Frag): Promise<T[]> {
    return this.db.prepare(f.sql).all(...f.params) as T[];
  }

  /** Uses per day from the rollup, after folding in the use marks it has not seen yet. */
  protected async usesPerDay(filter: UsageFilter, from: string, to: string): Promise<{ day: string; n: number }[]> {
    foldUses(this.db);
    const days = [from.slice(0, 10), to.slice(0, 10)];
    const rows = filter.branch
      ? this.db.prepare(BRANCH_DAYS_SQL).all(filter.branch, ...days)
      : this.db.prepare(ALL_DAYS_SQL).all(...days);
    return (rows as { day: string; uses: number }[]).map((r) => ({ day: r.day, n: r.uses }));
  }
}

function toRow(r: RawRow): UsageRow {
  return {
    key: String(r.key),
    cardId: r.card_id,
    n: r.n,
    cardState: r.card_state,
    customer: r.customer,
    customerRef: r.customer_ref,
    branch: r.branch,
    cards: r.cards,
    issued: r.issued ?? 0,
    used: r.used ?? 0,
    remaining: r.remaining ?? 0,
    refillsDue: r.refills_due ?? 0,
    usesInRange: r.uses_in_range ?? 0,
    rejections: r.rejections ?? 0,
    suspicions: r.suspicions ?? 0,
    openSuspicions: r.open_suspicions ?? 0,
    drift: r.drift,
  };
}

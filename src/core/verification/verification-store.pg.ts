import { cardFromRow, type CardRow } from '../cards/card.repository';
import type { PgQueryable } from '../db/pg/pg-database';
import { DEFAULT_BATCHING, StatementBatcher, type Batching } from '../db/pg/statement-batcher';
import { listFromRow, listSql, markUseRule, type ListRow, type UseMark } from '../lists/list.repository';
import { LATEST_VERSION_SQL, type PgPolicySource } from '../policy/policy-source.pg';
import type { DecisionSnapshot, DecisionStore, KnownUse } from './verification.service';

// A verification's reads and its acceptance on PostgreSQL in two statements (issue 12, "Done when":
// the verification benchmark against pgbench). Through the repositories one by one a verification
// was some ten round trips — the policy version, the card, the list, the failure counter, then the
// use mark's BEGIN, UPDATE, INSERT and COMMIT, and the counter's reset — each a parse, a plan and a
// wait for the server on a machine where the server, the service and its callers share the cores
// (docs/benchmarks.md). Here:
// - `read`: ONE SELECT gives the card by N, its current list (the same choice as listSql.current),
//   its failure row, the newest policy version and whether the caller's API key is still active;
//   PgPolicySource fetches the policy row only when that version moved, so policies are still read
//   at use (a version saved at any desk applies to the next decision) without a query of their own,
//   and an API key the service took from its memory (VerifyClientService `confirmedAtUse`) is
//   checked against the database at use too: a key revoked at any desk or instance is refused at
//   its next request, before anything is written.
// - `acceptKnown`: the next code of a card whose list this process's last acceptance saw is checked
//   against that list and accepted by ONE statement with no read before it: the same mark, with
//   everything the read would have shown as conditions on the mark's own UPDATE (card active, list
//   active, card not locked, policy version unmoved, the caller's key active, the next index unmoved
//   when the candidates came from it). Anything moved: nothing written, the decision made again
//   with `read`. So a run of codes of one card costs one statement each, as pgbench's UPDATE does.
// - `accept`: ONE statement marks the use and writes its row (and resets the failure count when the
//   read saw one): a data-modifying CTE, atomic as any single statement, committed before its answer.
//   Exactly-once across instances is the same conditional UPDATE as listSql.markUse: a second
//   instance waiting on the row re-checks the WHERE against the winner's committed row (READ
//   COMMITTED) and updates nothing, so its INSERT and reset, which read only the UPDATE's RETURNING,
//   do nothing either.
// The statements are built from the repositories' own texts (listSql, LATEST_VERSION_SQL), so the
// rules cannot drift from the SQLite path, which keeps its repository calls (each a local call).
// Constructs: LEFT JOIN, scalar subqueries, UPDATE … RETURNING and INSERT … SELECT in WITH
// (docs/storage.md "PostgreSQL"): no stored function, no LATERAL.

/** code_lists' columns, selected under an `l_` prefix beside the card's own. */
const LIST_COLUMNS = [
  'id',
  'card_ref',
  'seq',
  'list_id',
  'length',
  'digits',
  'threshold',
  'expires_at',
  'state',
  'queued_by_trigger',
  'mk_version',
  'sealed_for',
  'body_hash',
  'next_index',
  'used_count',
  'refill_due',
  'created_at',
  'created_by',
  'state_changed_at',
  'activated_at',
  'version',
] as const satisfies readonly (keyof ListRow)[];

/** listSql.current as a subquery for the card of the outer row: the id of the card's current list. */
function currentListIdOf(cardColumn: string): string {
  const sql = listSql.current.replace('SELECT *', 'SELECT id').replace('card_ref = ?', `card_ref = ${cardColumn}`);
  // If listSql.current is ever rewritten so that these no longer apply, fail at load, not at use.
  if (sql === listSql.current || sql.includes('?') || !sql.startsWith('SELECT id'))
    throw new Error('listSql.current changed shape: update verification-store.pg.ts');
  return sql;
}

/**
 * listSql.markUse with more conditions on the same row's UPDATE: what `acceptKnown` must still find
 * true in the database for a use decided without the read.
 */
function markUseWhen(conditions: string): string {
  const sql = listSql.markUse.replace('RETURNING *', `AND ${conditions}\n     RETURNING *`);
  if (sql === listSql.markUse) throw new Error('listSql.markUse changed shape: update verification-store.pg.ts');
  return sql;
}

/** The accepting statement: the use row and the reset read only the mark's RETURNING. */
const acceptWith = (mark: string) => `WITH marked AS (${mark}),
       used AS (INSERT INTO code_uses (list_ref, code_index, used_at)
          SELECT id, CAST(? AS BIGINT), CAST(? AS TEXT) FROM marked),
       reset AS (UPDATE verification_failures SET consecutive = 0
          WHERE ? = 1 AND card_ref = (SELECT card_ref FROM marked) AND consecutive > 0 AND locked_at IS NULL
          RETURNING card_ref)
     SELECT * FROM marked`;

/**
 * What the read would have shown, as conditions on the list's row (see DecisionStore.acceptKnown),
 * for the card `card` and the policy version `version` (SQL expressions: '?' or a batch's columns).
 * The card not locked out is not among them: every use mark checks it (markUseRule).
 */
const known = (card: string, version: string) => `card_ref = ${card}
       AND EXISTS (SELECT 1 FROM cards WHERE id = ${card} AND state = 'active')
       AND COALESCE((${LATEST_VERSION_SQL}), 0) = ${version}`;
const knownNext = (next: string) => ` AND next_index = ${next}`;
const keyActive = (key: string) => `EXISTS (SELECT 1 FROM verify_clients WHERE key_id = ${key} AND revoked_at IS NULL)`;
const KNOWN = known('?', '?');
const KNOWN_NEXT = knownNext('?');
const KNOWN_KEY = ` AND ${keyActive('?')}`;

/**
 * Many use marks in ONE statement (PgDecisionStore's batches): the requests as the rows of `unnest` over one
 * array per column, each row marked by the same rule as `accept` (`markUseRule`) and, for a row of
 * `acceptKnown` (known = 1), with its conditions; the use rows and the resets read only the marks'
 * RETURNING, as in `acceptWith`. A batch names each list at most once (an UPDATE … FROM changes a
 * row once per statement) and in ascending id order, so two batches lock shared rows in one order.
 */
const BATCH_COLUMNS = [
  ['list_ref', 'BIGINT'],
  ['use_index', 'BIGINT'],
  ['look_ahead', 'BIGINT'],
  ['use_at', 'TEXT'],
  ['use_reset', 'INT'],
  ['known', 'INT'],
  ['known_card', 'BIGINT'],
  ['known_version', 'BIGINT'],
  ['known_next', 'BIGINT'],
  ['known_key', 'TEXT'],
] as const;
const batchRule = markUseRule('r.list_ref', 'r.use_index', 'r.look_ahead');
const BATCH_SQL = `WITH r AS (
       SELECT * FROM unnest(${BATCH_COLUMNS.map(([, type]) => `CAST(? AS ${type}[])`).join(', ')})
         AS r(${BATCH_COLUMNS.map(([name]) => name).join(', ')})),
     marked AS (UPDATE code_lists SET ${batchRule.set}
          FROM r
          WHERE ${batchRule.where}
            AND (r.known = 0 OR (${known('r.known_card', 'r.known_version')}
              AND (r.known_next IS NULL OR next_index = r.known_next)
              AND (r.known_key IS NULL OR ${keyActive('r.known_key')})))
          RETURNING code_lists.*, r.use_index, r.use_at, r.use_reset),
     used AS (INSERT INTO code_uses (list_ref, code_index, used_at)
          SELECT id, use_index, use_at FROM marked),
     reset AS (UPDATE verification_failures SET consecutive = 0
          WHERE card_ref IN (SELECT card_ref FROM marked WHERE use_reset = 1) AND consecutive > 0 AND locked_at IS NULL
          RETURNING card_ref)
     SELECT * FROM marked`;

/**
 * The decision's read from `request`'s rows: the card by N `n` with its current list, its failure
 * row, the newest policy version and whether the API key `key` is active (SQL expressions: '?' for
 * one request, a batch's columns for many).
 */
function readFrom(request: string, n: string, key: string): string {
  return `SELECT c.*,
       ${LIST_COLUMNS.map((col) => `l.${col} AS l_${col}`).join(', ')},
       f.consecutive AS f_consecutive, f.last_failure_at AS f_last_failure_at, f.locked_at AS f_locked_at,
       (${LATEST_VERSION_SQL}) AS policy_version,
       (SELECT COUNT(*) FROM verify_clients WHERE key_id = ${key} AND revoked_at IS NULL) AS api_key_active
     FROM ${request}
     LEFT JOIN cards c ON c.n = ${n}
     LEFT JOIN code_lists l ON l.id = (${currentListIdOf('c.id')})
     LEFT JOIN verification_failures f ON f.card_ref = c.id`;
}

/** Many reads in ONE SELECT: a row per request (N and key), in the requests' order. */
const BATCH_READ_SQL = `${readFrom(
  'unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[])) WITH ORDINALITY AS request(n, key_id, position)',
  'request.n',
  'request.key_id',
)}
     ORDER BY request.position`;

export const decisionSql = {
  read: readFrom('(SELECT 1 AS one) AS request', '?', '?'),
  // markUse's UPDATE decides; the use row and the reset read only its RETURNING (the casts: a
  // parameter in a SELECT list has no type of its own). The reset is the
  // failure repository's recordSuccess (not when locked), and only when the read saw a count (? = 1).
  accept: acceptWith(listSql.markUse),
  /** acceptKnown, by whether the next index and the caller's key are checked too. */
  batch: BATCH_SQL,
  batchRead: BATCH_READ_SQL,
  acceptKnown: {
    plain: acceptWith(markUseWhen(KNOWN)),
    key: acceptWith(markUseWhen(KNOWN + KNOWN_KEY)),
    next: acceptWith(markUseWhen(KNOWN + KNOWN_NEXT)),
    nextKey: acceptWith(markUseWhen(KNOWN + KNOWN_NEXT + KNOWN_KEY)),
  },
};

type ReadRow = CardRow &
  Record<`l_${(typeof LIST_COLUMNS)[number]}`, unknown> & {
    f_consecutive: number | null;
    f_last_failure_at: string | null;
    f_locked_at: string | null;
    policy_version: number | null;
    api_key_active: number;
  } & Record<string, unknown>;

/** One decision's read, waiting for its statement. */
interface ReadAsk {
  readonly n: string;
  readonly apiKeyId: string | null;
}

/**
 * The decisions' reads and use marks in batches (`StatementBatcher`): the reads asked for while
 * earlier ones are out are one SELECT over the requests (BATCH_READ_SQL, each row the read's own),
 * the marks one statement (BATCH_SQL, each row the same conditional UPDATE as a mark alone, a list
 * at most once and in list order, so two batches lock the rows they share in one order).
 */
export class PgDecisionStore implements DecisionStore {
  private readonly marks: StatementBatcher<BatchedUse, UseMark | null>;
  private readonly reads: StatementBatcher<ReadAsk, ReadRow>;

  constructor(
    private readonly db: PgQueryable,
    private readonly policies: PgPolicySource,
    batching: Batching = DEFAULT_BATCHING,
  ) {
    this.marks = new StatementBatcher(
      {
        key: (use) => use.listRef,
        together: async (uses) => {
          const rows = await db.query<ListRow & Record<string, unknown>>(BATCH_SQL, batchParams(uses));
          const byList = new Map(rows.map((row) => [Number(row.id), row]));
          return uses.map((use) => marked(byList.get(use.listRef), use.index, use.at));
        },
        alone: (use) => use.alone(),
      },
      batching,
    );
    this.reads = new StatementBatcher(
      {
        together: async (asks) => {
          const rows = await db.query<ReadRow>(BATCH_READ_SQL, [asks.map((a) => a.n), asks.map((a) => a.apiKeyId)]);
          // One row per request, in the requests' order (WITH ORDINALITY, ORDER BY it).
          return rows;
        },
        alone: async ({ n, apiKeyId }) => {
          const [row] = await db.query<ReadRow>(decisionSql.read, [apiKeyId, n]);
          if (!row) throw new Error('the decision read returned no row');
          return row;
        },
      },
      batching,
    );
  }

  async read(
    n: string,
    apiKeyId: string | null,
  ): Promise<{ snapshot: DecisionSnapshot | null; apiKeyActive: boolean | null }> {
    const row = await this.reads.add({ n, apiKeyId });
    const apiKeyActive = apiKeyId === null ? null : row.api_key_active === 1;
    // A card that does not exist reads as a row of NULLs (the read always answers, for the key's sake).
    if (row.id === null || apiKeyActive === false) return { snapshot: null, apiKeyActive };
    await this.policies.seen(row.policy_version);
    const card = cardFromRow(row);
    const list =
      row.l_id === null
        ? null
        : listFromRow(Object.fromEntries(LIST_COLUMNS.map((col) => [col, row[`l_${col}`]])) as unknown as ListRow);
    const failures =
      row.f_consecutive === null
        ? null
        : {
            cardRef: card.id,
            consecutive: row.f_consecutive,
            lastFailureAt: row.f_last_failure_at,
            lockedAt: row.f_locked_at,
          };
    return { snapshot: { card, list, failures }, apiKeyActive };
  }

  accept(listRef: number, index: number, window: number, at: string, resetFailures: boolean): Promise<UseMark | null> {
    return this.marks.add({
      listRef,
      index,
      window,
      at,
      reset: resetFailures,
      known: null,
      alone: () => this.acceptAlone(listRef, index, window, at, resetFailures),
    });
  }

  private async acceptAlone(
    listRef: number,
    index: number,
    window: number,
    at: string,
    resetFailures: boolean,
  ): Promise<UseMark | null> {
    const [row] = await this.db.query<ListRow & Record<string, unknown>>(decisionSql.accept, [
      ...listSql.markUseParams(listRef, index, window),
      index,
      at,
      resetFailures ? 1 : 0,
    ]);
    return marked(row, index, at);
  }

  policyVersion(): number {
    return this.policies.version();
  }

  acceptKnown(use: KnownUse): Promise<UseMark | null> {
    return this.marks.add({
      listRef: use.listRef,
      index: use.index,
      window: use.window,
      at: use.at,
      reset: true, // as recordSuccess: only a count above 0 and not locked
      known: use,
      alone: () => this.acceptKnownAlone(use),
    });
  }

  private async acceptKnownAlone(use: KnownUse): Promise<UseMark | null> {
    const k = decisionSql.acceptKnown;
    const sql =
      use.nextIndex === null ? (use.apiKeyId === null ? k.plain : k.key) : use.apiKeyId === null ? k.next : k.nextKey;
    const params: unknown[] = [
      ...listSql.markUseParams(use.listRef, use.index, use.window),
      use.cardRef,
      use.cardRef,
      use.policyVersion,
      ...(use.nextIndex === null ? [] : [use.nextIndex]),
      ...(use.apiKeyId === null ? [] : [use.apiKeyId]),
      use.index,
      use.at,
      1, // the reset, as recordSuccess: only a count above 0 and not locked
    ];
    const [row] = await this.db.query<ListRow & Record<string, unknown>>(sql, params);
    return marked(row, use.index, use.at);
  }
}

function marked(row: (ListRow & Record<string, unknown>) | undefined, index: number, at: string): UseMark | null {
  // No row: another call won this index or moved past it (nothing was written). A data-modifying
  // WITH runs to completion whether or not the outer SELECT reads it, and a failed INSERT fails
  // the whole statement: a mark never commits without its use row.
  if (!row) return null;
  return { list: listFromRow(row), index, usedAt: at };
}

/** A use mark waiting for its statement: its row of BATCH_SQL. */
interface BatchedUse {
  readonly listRef: number;
  readonly index: number;
  readonly window: number;
  readonly at: string;
  readonly reset: boolean;
  /** acceptKnown's conditions; null for `accept` (the decision's read came first). */
  readonly known: KnownUse | null;
  /** The statement that marks this use by itself: a batch of one, and a batch the server refused. */
  readonly alone: () => Promise<UseMark | null>;
}

/** BATCH_SQL's parameters: one array per column of BATCH_COLUMNS, in its order, a row per use. */
function batchParams(batch: readonly BatchedUse[]): unknown[] {
  const value: Record<(typeof BATCH_COLUMNS)[number][0], (use: BatchedUse) => unknown> = {
    list_ref: (u) => u.listRef,
    use_index: (u) => u.index,
    look_ahead: (u) => u.window,
    use_at: (u) => u.at,
    use_reset: (u) => (u.reset ? 1 : 0),
    known: (u) => (u.known ? 1 : 0),
    known_card: (u) => u.known?.cardRef ?? null,
    known_version: (u) => u.known?.policyVersion ?? null,
    known_next: (u) => u.known?.nextIndex ?? null,
    known_key: (u) => u.known?.apiKeyId ?? null,
  };
  return BATCH_COLUMNS.map(([name]) => batch.map(value[name]));
}

import { createHash } from 'node:crypto';
import pg from 'pg';
import { AppError } from '../../errors';

// The shared issuer database on PostgreSQL (issue 12, docs/storage.md "PostgreSQL"). One pool per
// process; a repository method that changes data is one `transaction`, retried whole when the
// engine reports a serialisation failure or a deadlock (distributed PostgreSQL-compatible engines
// report contention that way too), so callers see either its effect once or an error.

export type Row = Record<string, unknown>;

/**
 * What a PostgreSQL repository runs its SQL on: the pool, or one connection inside a transaction.
 * SQL is written with `?` placeholders, as on SQLite (numbered here, see pgSql).
 */
export interface PgQueryable {
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

/**
 * A PgQueryable that also opens transactions: the pool (PgDatabase), or a transaction already open
 * (`joinedTransaction`), where a repository's own `transaction` becomes a savepoint inside it.
 */
export interface PgTransactor extends PgQueryable {
  transaction<T>(work: (tx: PgQueryable) => Promise<T>, isolation?: Isolation): Promise<T>;
}

let savepoints = 0;

/**
 * `tx` as a PgTransactor for repositories that run inside a unit of work (repositories.ts
 * `atomically`): their `transaction` joins `tx` as a SAVEPOINT, so an error they catch themselves
 * (a unique key taken: 23505) undoes only their statements and leaves the outer transaction usable,
 * as it would have left their own. The outer transaction's isolation (SERIALIZABLE) applies; a
 * serialisation failure inside goes up and runs the whole unit again.
 */
export function joinedTransaction(tx: PgQueryable): PgTransactor {
  return {
    query: (sql, params) => tx.query(sql, params),
    async transaction<T>(work: (inner: PgQueryable) => Promise<T>): Promise<T> {
      const name = `otac_sp_${++savepoints}`;
      await tx.query(`SAVEPOINT ${name}`);
      let value: T;
      try {
        value = await work(tx);
      } catch (err) {
        await tx.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
        throw err;
      }
      await tx.query(`RELEASE SAVEPOINT ${name}`);
      return value;
    },
  };
}

export interface PgDatabaseOptions {
  /** `postgres://user:password@host:port/database?sslmode=…` (OTAC_DATABASE_URL). */
  readonly url: string;
  readonly maxConnections?: number;
  /** Milliseconds to wait for a connection before the desk is told the server is unreachable. */
  readonly connectTimeoutMs?: number;
  /** PEM of the CA that signed the server's certificate: TLS with the server's name checked. */
  readonly tlsCa?: string;
  /**
   * TLS as pg-config.ts worked it out from OTAC_DATABASE_URL and OTAC_DATABASE_CA (wins over
   * `tlsCa`); false: plain (loopback or a Unix socket only, which pg-config enforces).
   */
  readonly ssl?: PgTls | false;
  /** Shown in pg_stat_activity, so a DBA can tell desks from verification instances. */
  readonly applicationName?: string;
  /**
   * Send each parameterised statement as a named prepared statement, parsed and planned once per
   * connection instead of per call (bench/postgres.bench.ts: pgbench parsing per statement reaches
   * about half of its prepared rate on the same cluster). Off by default. A statement whose result
   * columns a migration changed under it (`SELECT *` after ADD COLUMN, SQLSTATE 0A000) is sent
   * unnamed from then on, and a transaction that met it runs again.
   */
  readonly preparedStatements?: boolean;
}

/** TLS to the server: `ca` null means encrypted but unchecked (loopback `sslmode=require` only). */
export interface PgTls {
  readonly ca: string | null;
  /** verify-full: the certificate must name the host the URL names. */
  readonly checkHostname: boolean;
}

function sslOptions(options: PgDatabaseOptions): pg.PoolConfig['ssl'] | undefined {
  const tls = options.ssl;
  if (tls === false) return false;
  if (tls === undefined) return options.tlsCa ? { ca: options.tlsCa, rejectUnauthorized: true } : undefined;
  if (tls.ca === null) return { rejectUnauthorized: false };
  return tls.checkHostname
    ? { ca: tls.ca, rejectUnauthorized: true }
    : { ca: tls.ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

/** READ COMMITTED suits one compare-and-set statement (PostgreSQL re-checks its WHERE on the row's
 * newest version after waiting for a concurrent writer); SERIALIZABLE suits read-then-write. */
export type Isolation = 'read committed' | 'serializable';

/**
 * The repositories write SQL with `?` placeholders on both engines; PostgreSQL numbers them. No
 * statement here has a `?` inside a string literal (checked: a quote before a `?` is refused).
 */
export function pgSql(sql: string): string {
  let n = 0;
  let quoted = false;
  let out = '';
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    if (ch === '?' && !quoted) out += `$${++n}`;
    else out += ch;
  }
  if (quoted) throw new Error('unbalanced quote in SQL');
  return out;
}

const numberedCache = new Map<string, string>();
function numbered(sql: string, params: readonly unknown[]): string {
  // A statement without parameters (a migration's DDL, with its comments and quotes) goes as written.
  if (params.length === 0) return sql;
  let out = numberedCache.get(sql);
  if (out === undefined) {
    out = pgSql(sql);
    if (numberedCache.size < 2000) numberedCache.set(sql, out);
  }
  return out;
}

/** Statements a schema change made unpreparable (0A000: cached plan must not change result type). */
const unprepared = new Set<string>();
const statementNames = new Map<string, string>();

/** What pg is handed: the numbered text, named when `prepared` and the statement has parameters. */
function statement(sql: string, params: readonly unknown[], prepared: boolean): pg.QueryConfig {
  const text = numbered(sql, params);
  if (!prepared || params.length === 0 || unprepared.has(text)) return { text, values: params as unknown[] };
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `otac_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    if (statementNames.size < 2000) statementNames.set(text, name);
  }
  return { name, text, values: params as unknown[] };
}

/** A prepared statement whose result type a migration changed: sent unnamed from now on. */
function forgetPrepared(err: unknown, sql: string, params: readonly unknown[]): boolean {
  if (!isStalePlan(err)) return false;
  unprepared.add(numbered(sql, params));
  return true;
}

function isStalePlan(err: unknown): boolean {
  return sqlState(err) === '0A000' && /cached plan must not change result type/.test(String(err));
}

/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 20;

/**
 * int8 (counts, ids, epoch milliseconds) as a JavaScript number, as better-sqlite3 gives them:
 * the values this schema keeps stay far below 2^53, and a larger one is refused, not rounded.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`integer ${text} is beyond what this workstation handles`);
  return n;
}
const typeParsers = new pg.TypeOverrides();
typeParsers.setTypeParser(pg.types.builtins.INT8, parseInt8);

export class PgDatabase implements PgTransactor {
  private readonly pool: pg.Pool;

  constructor(readonly options: PgDatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      types: typeParsers,
      ...(sslOptions(options) !== undefined ? { ssl: sslOptions(options) } : {}),
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
    });
    // An idle connection the server dropped (restart, failover) surfaces here; the next query
    // opens a fresh one. Without a listener the process would crash.
    this.pool.on('error', () => undefined);
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    try {
      const prepared = this.options.preparedStatements === true;
      try {
        return (await this.pool.query<T>(statement(sql, params, prepared))).rows;
      } catch (err) {
        if (!prepared || !forgetPrepared(err, sql, params)) throw err;
        return (await this.pool.query<T>(statement(sql, params, false))).rows;
      }
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * `work` on one connection between BEGIN and COMMIT (by default SERIALIZABLE: the engine, not the
   * code, orders concurrent writers), run again from the start on a serialisation failure.
   * `work` must do nothing but database work: it may run more than once.
   */
  async transaction<T>(work: (tx: PgQueryable) => Promise<T>, isolation: Isolation = 'serializable'): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw translate(err);
      }
      // A checked-out connection the server drops (a network cut, a restart, a terminated backend)
      // emits 'error' on this client, which the pool's listener does not see: unheard, it would end
      // the process. The query in flight rejects as well and is refused below as DB_UNREACHABLE.
      let broken: Error | undefined;
      const onError = (err: Error) => (broken = err);
      client.on('error', onError);
      const release = (err?: Error) => {
        client.off('error', onError);
        client.release(err ?? broken);
      };
      const prepared = this.options.preparedStatements === true;
      const tx: PgQueryable = {
        query: async <R extends Row>(sql: string, params: readonly unknown[] = []) => {
          try {
            return (await client.query<R>(statement(sql, params, prepared))).rows;
          } catch (err) {
            if (prepared) forgetPrepared(err, sql, params);
            throw err;
          }
        },
      };
      try {
        await client.query(isolation === 'serializable' ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN');
        const value = await work(tx);
        await client.query('COMMIT');
        release();
        return value;
      } catch (err) {
        if (!broken) await client.query('ROLLBACK').catch(() => undefined);
        // A connection broken mid-transaction is not returned to the pool.
        release(isConnectionError(err) ? (err as Error) : undefined);
        if (attempt < MAX_ATTEMPTS && (RETRYABLE.has(sqlState(err) ?? '') || (prepared && isStalePlan(err)))) {
          await new Promise((r) => setTimeout(r, attempt * 5 + Math.random() * 10));
          continue;
        }
        throw translate(err);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH)$/.test(code)) ||
    (sqlState(err) ?? '').startsWith('08') ||
    (sqlState(err) ?? '').startsWith('57P')
  );
}

/**
 * A server that cannot be reached becomes one clear refusal for the desk (issue 12 item 4): nothing
 * is written anywhere else instead, so nothing issuer-side forks. Other errors pass through with
 * their SQLSTATE for the repository to interpret (23505: a unique key taken first by another desk).
 */
function translate(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const tls = tlsRefusal(err);
  if (tls) return tls;
  if (isConnectionError(err) || /timeout exceeded when trying to connect|Connection terminated/i.test(String(err)))
    return new AppError(
      'DB_UNREACHABLE',
      'The issuer database server cannot be reached. Nothing was saved. Check the network to the server, ' +
        'or call the branch IT support; try again when it is back.',
    );
  return err;
}

/** Node's codes for a server certificate the configured CA did not sign, or that names another host. */
const UNTRUSTED_CERTIFICATE =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_SIGNATURE_FAILURE|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/**
 * TLS problems as refusals saying what to set (docs/storage.md "Branch network: TLS"). Messages
 * name settings and the server's reason, never the URL (it may hold the password).
 */
function tlsRefusal(err: unknown): AppError | null {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && UNTRUSTED_CERTIFICATE.test(code))
    return new AppError(
      'DB_TLS_UNTRUSTED',
      `The issuer database server's certificate was refused (${code}): it is not signed by the CA in OTAC_DATABASE_CA, ` +
        'has expired, or does not name the host in OTAC_DATABASE_URL. Nothing was saved. Set OTAC_DATABASE_CA to the CA ' +
        "that signed the server's certificate and use the host name the certificate names; if the certificate changed, " +
        'ask the database administrator.',
    );
  if (/server does not support SSL/i.test(message))
    return new AppError(
      'DB_TLS_UNAVAILABLE',
      'The issuer database server does not accept TLS connections, and this workstation will not send the password and ' +
        'customer data in clear. Nothing was saved. Ask the database administrator to enable ssl on the server.',
    );
  // 28000 from a hostssl-only pg_hba.conf: "no pg_hba.conf entry for host …, no encryption".
  if (sqlState(err) === '28000' && /no encryption/i.test(message))
    return new AppError(
      'DB_TLS_REQUIRED',
      'The issuer database server accepts only TLS connections: add sslmode=verify-full to OTAC_DATABASE_URL and set ' +
        "OTAC_DATABASE_CA to the CA certificate that signed the server's certificate. Nothing was saved.",
    );
  return null;
}

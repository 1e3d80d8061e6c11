import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { AppError } from '../../errors';
import type { PgDatabaseOptions, PgTls } from './pg-database';

// Which issuer database a desk or a verification instance uses (issue 12, docs/storage.md "Branch
// network: settings"): `OTAC_DATABASE_URL=postgres://…` names the shared PostgreSQL server; absent,
// the embedded SQLite file in the data directory. Off this machine the connection must be TLS with
// the server's certificate checked against the bank's CA and its name against the URL's host
// (`sslmode=verify-full` + `OTAC_DATABASE_CA`): a password and every customer row cross the network.
// The URL's password never reaches a log line or an error message (`redactUrl`).

/** What the process environment says about the database. */
export interface DatabaseEnv {
  readonly OTAC_DATABASE_URL?: string | undefined;
  /** Path of the PEM file of the CA that signed the server's certificate. */
  readonly OTAC_DATABASE_CA?: string | undefined;
  /** Connections in this process's pool (default 10). */
  readonly OTAC_DATABASE_POOL?: string | undefined;
}

export interface PgSettings extends PgDatabaseOptions {
  /** The URL with the password replaced by `***`: the only form ever shown or logged. */
  readonly displayUrl: string;
}

type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
/** Connection parameters this module turns into `ssl` options; pg would otherwise let them override ours. */
const TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl', 'uselibpqcompat'];

/** `postgres://user:***@host/db`: for logs, errors and the screen. Never throws. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Not a URL at all: show its scheme at most, since a password may sit anywhere in it.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
    return scheme ? `${scheme}//…` : '(not a URL)';
  }
}

/** Loopback address or name, or a Unix socket directory (`host=/run/postgresql` or an empty host). */
export function isLocalHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === '' || h.startsWith('/') || h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1';
  return false;
}

/**
 * The PgDatabase options for `OTAC_DATABASE_URL`, or null when it is not set (the embedded SQLite
 * file). Refuses, with what to set: a URL that is not postgres://, a server off this machine without
 * `sslmode=verify-full`, TLS that checks the server without a CA file, and a CA file that cannot be
 * read or holds no certificate.
 */
export function pgSettingsFromEnv(
  env: DatabaseEnv = process.env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): PgSettings | null {
  const raw = env.OTAC_DATABASE_URL?.trim();
  if (!raw) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AppError(
      'DB_URL_INVALID',
      `OTAC_DATABASE_URL is not a valid URL (${redactUrl(raw)}). Write it as postgres://user:password@host:5432/database?sslmode=verify-full, ` +
        'with any special character in the password percent-encoded; leave it unset for the embedded SQLite file.',
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new AppError(
      'DB_URL_INVALID',
      `OTAC_DATABASE_URL must start with postgres:// (it is ${redactUrl(raw)}); leave it unset for the embedded SQLite file.`,
    );
  const displayUrl = redactUrl(raw);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database)
    throw new AppError(
      'DB_URL_INVALID',
      `OTAC_DATABASE_URL names no database (${displayUrl}): add it after the host, e.g. …:5432/otac.`,
    );
  // libpq's `host=` parameter (a socket directory) wins over the URL's host, as in psql.
  const host = u.searchParams.get('host') ?? decodeURIComponent(u.hostname);
  const local = isLocalHost(host);

  const modeText = u.searchParams.get('sslmode') ?? (local ? 'disable' : '');
  if (modeText && !SSL_MODES.includes(modeText as SslMode))
    throw new AppError(
      'DB_URL_INVALID',
      `OTAC_DATABASE_URL has sslmode=${modeText}, which is not a libpq SSL mode. Use sslmode=verify-full (${displayUrl}).`,
    );
  const mode = modeText as SslMode | '';
  if (!local && mode !== 'verify-full')
    throw new AppError(
      'DB_TLS_REQUIRED',
      `The issuer database ${host} is on another machine, so the connection must be TLS with the server checked: ` +
        `add sslmode=verify-full to OTAC_DATABASE_URL (it has ${mode ? `sslmode=${mode}` : 'no sslmode'}) and set ` +
        `OTAC_DATABASE_CA to the file of the CA certificate that signed the server's certificate. Nothing was connected.`,
    );

  const caPath = env.OTAC_DATABASE_CA?.trim();
  let ssl: PgTls | false = false;
  if (mode === 'verify-full' || mode === 'verify-ca') {
    if (!caPath)
      throw new AppError(
        'DB_TLS_CA_MISSING',
        `OTAC_DATABASE_URL asks for sslmode=${mode}, which checks the server's certificate: set OTAC_DATABASE_CA to the ` +
          "file of the CA certificate (PEM) that signed the database server's certificate. Nothing was connected.",
      );
    ssl = { ca: readCa(caPath, readFile), checkHostname: mode === 'verify-full' };
  } else if (mode === 'require' || mode === 'prefer' || mode === 'allow') {
    // Only reachable on loopback (above): encrypted, the server not checked, as libpq does without a
    // root certificate. 'prefer'/'allow' would fall back to plain text; here they mean TLS or nothing.
    ssl = caPath ? { ca: readCa(caPath, readFile), checkHostname: false } : { ca: null, checkHostname: false };
  }

  for (const p of TLS_PARAMS) u.searchParams.delete(p);
  const applicationName = u.searchParams.get('application_name') ?? undefined;
  u.searchParams.delete('application_name');

  const poolText = env.OTAC_DATABASE_POOL?.trim();
  const maxConnections = poolText ? Number(poolText) : undefined;
  if (
    maxConnections !== undefined &&
    !(Number.isInteger(maxConnections) && maxConnections >= 1 && maxConnections <= 1000)
  )
    throw new AppError(
      'DB_POOL_INVALID',
      `OTAC_DATABASE_POOL must be a whole number of connections between 1 and 1000 (it is "${poolText}").`,
    );

  return {
    url: u.toString(),
    displayUrl,
    ssl,
    ...(applicationName ? { applicationName } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
  };
}

function readCa(path: string, readFile: (path: string) => string): string {
  let pem: string;
  try {
    pem = readFile(path);
  } catch (err) {
    const reason = (err as { code?: string }).code ?? 'unreadable';
    throw new AppError(
      'DB_TLS_CA_UNREADABLE',
      `OTAC_DATABASE_CA names ${path}, which cannot be read (${reason}). Set it to the PEM file of the CA certificate ` +
        "that signed the database server's certificate.",
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new AppError(
      'DB_TLS_CA_UNREADABLE',
      `OTAC_DATABASE_CA names ${path}, which holds no PEM certificate. Set it to the CA certificate (-----BEGIN CERTIFICATE-----) ` +
        "that signed the database server's certificate.",
    );
  return pem;
}

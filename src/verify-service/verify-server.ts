import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AuditService } from '../core/audit/audit.service';
import { openDatabase, type Database } from '../core/db/database';
import { AppError } from '../core/errors';
import { keystoreLocationFromEnv } from '../core/keystore/keystore-holder.service';
import { createLogger, type Logger } from '../core/log';
import { ClientCertificateService } from '../core/verification/client-certificate.service';
import { SqliteClientCertificateRepository } from '../core/verification/client-certificate.repository';
import { SqliteVerifyClientRepository } from '../core/verification/verify-client.repository';
import { VerifyClientService } from '../core/verification/verify-client.service';
import { buildVerifyApp } from './app';
import { CoreThread, type CoreThreadOptions } from './core-thread';
import { openPgVerificationCore, type PgVerificationCoreOptions } from './service-core.pg';
import { pgSettingsFromEnv, type PgSettings } from '../core/db/pg/pg-config';

type PgSettingsCoreOptions = PgVerificationCoreOptions & { readonly databaseUrl: PgSettings };
import { assertPrivateFile, readKeystoreSecret } from './keystore-secret';
import { DEFAULT_RATE_LIMIT } from './rate-limit';
import {
  dataVersionWatch,
  openVerificationCore,
  SERVICE_ACTOR,
  type Durability,
  type VerificationCore,
} from './service-core';

// `npm run serve:verify`: the headless verification service (docs/verification-service.md). It
// opens the desk's database and keystore, unlocks the keystore from a protected source, and serves
// the HTTP API until SIGTERM/SIGINT. Settings come from the environment:
//
//   OTAC_DATA_DIR            the desk's data directory (database, keystore file)   .data/workstation
//   OTAC_VERIFY_HOST         address to listen on                                  127.0.0.1
//   OTAC_VERIFY_PORT         port (0: any free one, printed at start)              8443 with TLS, else 8480
//   OTAC_VERIFY_TLS_CERT/KEY PEM files; required for any address but loopback
//   OTAC_VERIFY_RATE_PER_N   burst/per-second of the per-N limit, e.g. "10/0.5"     10/0.5
//   OTAC_VERIFY_FAILURE_LIMIT wrong codes in a row before a card is locked out     5
//   OTAC_VERIFY_DURABILITY   group (WAL fsync shared by concurrent commits) | full  group
//   OTAC_VERIFY_THREADS      2: HTTP here, the core on a worker thread (core-thread.ts) | 1   2
//   OTAC_KEYSTORE, OTAC_PKCS11_*  as for the desk; the secret as in keystore-secret.ts
//   OTAC_DATABASE_URL        postgres://… : run on the shared issuer database (service-core.pg.ts),
//                            one thread, durability = PostgreSQL's commit, any number of instances;
//                            OTAC_DATA_DIR then holds only this instance's log and keystore copy
//   OTAC_DATABASE_CA         PEM file of the CA of the database server's certificate (TLS;
//                            pg-config.ts: off this machine sslmode=verify-full is required)
//   OTAC_DATABASE_POOL       connections to the database                          20

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const dataDir = resolve(env['OTAC_DATA_DIR'] ?? '.data/workstation');
  const host = env['OTAC_VERIFY_HOST'] ?? '127.0.0.1';
  const certFile = env['OTAC_VERIFY_TLS_CERT'];
  const keyFile = env['OTAC_VERIFY_TLS_KEY'];
  if (Boolean(certFile) !== Boolean(keyFile))
    fail('Set both OTAC_VERIFY_TLS_CERT and OTAC_VERIFY_TLS_KEY, or neither.');
  if (!certFile && !LOOPBACK.has(host))
    fail(
      `Listening on ${host} needs TLS: set OTAC_VERIFY_TLS_CERT and OTAC_VERIFY_TLS_KEY (codes must not cross a network in clear).`,
    );
  if (keyFile) assertPrivateFile(keyFile, 'The TLS key');
  const port = Number(env['OTAC_VERIFY_PORT'] ?? (certFile ? 8443 : 8480));
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('OTAC_VERIFY_PORT must be a port number (0 to 65535).');
  const rateLimit = parseRate(env['OTAC_VERIFY_RATE_PER_N']);
  const failureLimit = env['OTAC_VERIFY_FAILURE_LIMIT'] ? Number(env['OTAC_VERIFY_FAILURE_LIMIT']) : undefined;
  if (failureLimit !== undefined && !(Number.isInteger(failureLimit) && failureLimit >= 1))
    fail('OTAC_VERIFY_FAILURE_LIMIT must be a whole number from 1.');

  const durability = env['OTAC_VERIFY_DURABILITY'] ?? 'group';
  if (durability !== 'group' && durability !== 'full') fail('OTAC_VERIFY_DURABILITY is "group" or "full".');
  const threads = env['OTAC_VERIFY_THREADS'] ?? '2';
  if (threads !== '1' && threads !== '2') fail('OTAC_VERIFY_THREADS is 2 (HTTP beside the core thread) or 1.');
  const { secret, source } = readKeystoreSecret(env);
  const database = pgSettingsFromEnv(env);
  const common: Common = {
    host,
    port,
    dataDir,
    durability: durability,
    rateLimit,
    source,
    https: certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : null,
  };
  if (database)
    return servePg(
      common,
      {
        dataDir,
        keystore: keystoreLocationFromEnv(env, dataDir),
        databaseUrl: database,
        ...(failureLimit !== undefined ? { failureLimit } : {}),
      },
      secret,
    );
  if (threads === '2')
    return serveOnTwoThreads(common, {
      dataDir,
      keystore: keystoreLocationFromEnv(env, dataDir),
      secret,
      durability,
      ...(failureLimit !== undefined ? { failureLimit } : {}),
    });
  const core = openVerificationCore({
    dataDir,
    keystore: keystoreLocationFromEnv(env, dataDir),
    durability,
    ...(failureLimit !== undefined ? { failureLimit } : {}),
  });
  try {
    await core.keystore.unlock(secret, SERVICE_ACTOR);
  } catch (err) {
    await core.close();
    throw err;
  }
  core.log.info('verify service keystore unlocked', { source });
  const { app } = buildVerifyApp({
    verification: core.verification,
    challenges: core.challenges,
    clients: core.clients,
    certificates: core.certificates,
    durable: () => core.durable(),
    ready: () => ready(core),
    log: core.log,
    version: readVersion(),
    rateLimit,
    ...(certFile && keyFile
      ? { https: { cert: readFileSync(certFile), key: readFileSync(keyFile), ...(await clientCa(core)) } }
      : {}),
  });
  const address = await app.listen({ host, port });
  console.log(
    `verification service listening on ${address} (data ${dataDir}, keystore ${core.keystore.backend}, durability ${durability}, one thread)`,
  );
  stopOnSignals(core.log, () => app.close().then(() => core.close()));
}

interface Common {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly durability: Durability;
  readonly rateLimit: { burst: number; perSecond: number };
  readonly source: string;
  readonly https: { cert: Buffer; key: Buffer } | null;
}

/**
 * The default: HTTP on this thread, the core (database writes, keystore, verify) on a worker thread
 * (core-thread.ts). This thread has its own read connection for the API keys and certificates.
 */
async function serveOnTwoThreads(common: Common, opts: CoreThreadOptions): Promise<void> {
  const { dataDir, durability } = common;
  const log = createLogger(join(dataDir, 'logs', 'verify-service.log'), false);
  const core = await CoreThread.start(opts, (err) => {
    // Without its core the service cannot answer: stop, and let the supervisor start it again.
    log.error('verify service core thread lost', { error: err.message });
    process.exit(1);
  });
  const db = openDatabase(join(dataDir, 'workstation.db'));
  log.info('verify service keystore unlocked', { source: common.source, threads: 2 });
  const audit = new AuditService(db);
  const clients = new VerifyClientService(new SqliteVerifyClientRepository(db), audit, undefined, {
    changedElsewhere: dataVersionWatch(db),
  });
  // Only byFingerprint is used here; issuing certificates is the desk's (it needs the keystore).
  const certificates = new ClientCertificateService(
    new SqliteClientCertificateRepository(db),
    {
      run: () => {
        throw keystoreElsewhere();
      },
    },
    audit,
  );
  const pem = common.https ? await core.caCertificatePem() : '';
  if (common.https && !pem) log.info('verify service without client certificates: the keystore has no bank CA');
  let coreUp = true;
  const { app } = buildVerifyApp({
    verification: { verify: core.verify },
    challenges: core.challenges,
    clients,
    certificates,
    // The core thread answers each call once its writes are on disk (core-thread.ts).
    durable: () => Promise.resolve(),
    ready: () => ({ keystore: coreUp, database: databaseAnswers(db) }),
    log,
    version: readVersion(),
    rateLimit: common.rateLimit,
    ...(common.https ? { https: { ...common.https, ...(pem ? { ca: Buffer.from(pem) } : {}) } } : {}),
  });
  const address = await app.listen({ host: common.host, port: common.port });
  console.log(
    `verification service listening on ${address} (data ${dataDir}, keystore ${core.backend}, durability ${durability}, two threads)`,
  );
  stopOnSignals(log, () =>
    app
      .close()
      .then(() => {
        coreUp = false;
        return core.close();
      })
      .then(() => void db.close()),
  );
}

/** On the shared PostgreSQL database (service-core.pg.ts): one thread, several instances. */
async function servePg(common: Common, opts: PgSettingsCoreOptions, secret: string): Promise<void> {
  const database = opts.databaseUrl.displayUrl;
  const core = await openPgVerificationCore(opts);
  try {
    await core.keystore.unlock(secret, SERVICE_ACTOR);
  } catch (err) {
    await core.close();
    throw err;
  }
  core.log.info('verify service keystore unlocked', { source: common.source, database: 'postgres' });
  const { app } = buildVerifyApp({
    verification: core.verification,
    challenges: core.challenges,
    clients: core.clients,
    certificates: core.certificates,
    durable: () => core.durable(),
    ready: () => ({ keystore: core.keystore.currentOrNull() !== null, database: core.databaseAnswers() }),
    log: core.log,
    version: readVersion(),
    rateLimit: common.rateLimit,
    ...(common.https ? { https: { ...common.https, ...(await clientCa(core)) } } : {}),
  });
  const address = await app.listen({ host: common.host, port: common.port });
  console.log(
    `verification service listening on ${address} (database ${database}, data ${common.dataDir}, keystore ${core.keystore.backend}, durability database commit, one thread)`,
  );
  stopOnSignals(core.log, () => app.close().then(() => core.close()));
}

/** SIGTERM or SIGINT: `close` once (the HTTP server first, then what it serves from), then exit. */
function stopOnSignals(log: Logger, close: () => Promise<void>): void {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info('verify service stopping', { signal });
    void close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function keystoreElsewhere(): AppError {
  return new AppError('KEYSTORE_LOCKED', 'The keystore is open on the service core thread only.');
}

/**
 * Mutual TLS: the bank CA of the keystore, as the `ca` client certificates are checked against; none
 * when the keystore has no bank CA yet (then only API keys authenticate).
 */
async function clientCa(core: Pick<VerificationCore, 'keystore' | 'log'>): Promise<{ ca?: Buffer }> {
  const pem = await core.keystore
    .current()
    .caCertificatePem()
    .catch(() => '');
  if (!pem) {
    core.log.info('verify service without client certificates: the keystore has no bank CA');
    return {};
  }
  return { ca: Buffer.from(pem) };
}

function ready(core: VerificationCore): { keystore: boolean; database: boolean } {
  return { keystore: core.keystore.currentOrNull() !== null, database: databaseAnswers(core.db) };
}

function databaseAnswers(db: Database): boolean {
  try {
    db.prepare('SELECT 1').get();
    return true;
  } catch {
    return false;
  }
}

function parseRate(v: string | undefined): { burst: number; perSecond: number } {
  if (!v) return DEFAULT_RATE_LIMIT;
  const [b, r] = v.split('/').map(Number);
  if (!b || !r || b < 1 || r <= 0) fail('OTAC_VERIFY_RATE_PER_N is "burst/per-second", e.g. "10/0.5".');
  return { burst: b, perSecond: r };
}

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

function fail(message: string): never {
  throw new Error(message);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`verification service not started: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}

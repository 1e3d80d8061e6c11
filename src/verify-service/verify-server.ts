import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { keystoreLocationFromEnv } from '../core/keystore/keystore-holder.service';
import { buildVerifyApp } from './app';
import { assertPrivateFile, readKeystoreSecret } from './keystore-secret';
import { DEFAULT_RATE_LIMIT } from './rate-limit';
import { openVerificationCore, SERVICE_ACTOR, type VerificationCore } from './service-core';

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
//   OTAC_KEYSTORE, OTAC_PKCS11_*  as for the desk; the secret as in keystore-secret.ts

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
  const { secret, source } = readKeystoreSecret(env);
  const core = openVerificationCore({
    dataDir,
    keystore: keystoreLocationFromEnv(env, dataDir),
    durability,
    ...(failureLimit !== undefined ? { failureLimit } : {}),
  });
  let closing = false;
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
    `verification service listening on ${address} (data ${dataDir}, keystore ${core.keystore.backend}, durability ${durability})`,
  );
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    core.log.info('verify service stopping', { signal });
    void app
      .close()
      .then(() => core.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * Mutual TLS: the bank CA of the keystore, as the `ca` client certificates are checked against; none
 * when the keystore has no bank CA yet (then only API keys authenticate).
 */
async function clientCa(core: VerificationCore): Promise<{ ca?: Buffer }> {
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
  let database = true;
  try {
    core.db.prepare('SELECT 1').get();
  } catch {
    database = false;
  }
  return { keystore: core.keystore.currentOrNull() !== null, database };
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

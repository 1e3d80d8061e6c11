import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { CardRecord } from '../../src/core/cards/card.repository';
import { KeystoreCardKeyPort } from '../../src/core/keystore/keystore-card-key-port';
import type { ListRecord } from '../../src/core/lists/list.repository';
import type { ListActor, ListService } from '../../src/core/lists/list.service';
import type { Keystore } from '../../src/core/keystore/keystore.types';
import type { DeskWorkstation, Workstation, WorkstationOptions } from '../../src/core/workstation';
import { AuditService } from '../../src/core/audit/audit.service';
import type { Database } from '../../src/core/db/database';
import { SqliteVerifyClientRepository, type VerifyScope } from '../../src/core/verification/verify-client.repository';
import { VerifyClientService } from '../../src/core/verification/verify-client.service';
import { buildVerifyApp, type VerifyAppDeps } from '../../src/verify-service/app';
import {
  openVerificationCore,
  SERVICE_ACTOR,
  type Durability,
  type VerificationCore,
} from '../../src/verify-service/service-core';
import { CHEAP_SCRYPT, prepareKeystore } from './activation-cards';
import { cardRow, type RowStore } from './cards';
import { freshSqliteWorkstation, restartableWorkstation, type RestartableDesk } from './fresh-workstation';
import { deskSql } from './test-engine';
import { codesFromPublicKeyEnvelope, rsaPublicKeyBytes } from './list-envelopes';
import { KEYSTORE_PASSPHRASE } from './keys';
import { addOperator, setupOfficer } from './operators';

// The verification service's tests (issue 10 item 1): a desk with its keystore ready, active cards
// whose lists were sealed, "pushed" and activated through the desk's own ListService (the codes come
// from opening the envelope with the card's RSA key, as a card would), and the real service started
// on loopback beside the desk, on the same data directory and database.

const MANAGER: ListActor = { operatorId: 7, operator: 'mia', role: 'manager' };
const cardRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

export interface Desk {
  readonly ws: Workstation;
  readonly dataDir: string;
  dispose(): Promise<void>;
}

/** A running desk whose software keystore (cheap scrypt, KEYSTORE_PASSPHRASE) is ready to seal lists. */
export async function deskWithKeystore(
  options: Partial<Pick<WorkstationOptions, 'now' | 'support'>> = {},
): Promise<Desk> {
  const { ws, dataDir, dispose } = freshSqliteWorkstation({ ...options, keystoreScryptCost: CHEAP_SCRYPT });
  const officer = await setupOfficer(ws);
  const second = await addOperator(ws, 'security_officer');
  await prepareKeystore(ws, officer, second);
  return { ws, dataDir, dispose };
}

/**
 * An active card with an active list of the policy's length (100 codes of 6 digits by default), made
 * through a desk's ListService and keystore — a workstation, or the same services composed on
 * PostgreSQL (`db` then being that engine's repositories).
 */
export async function cardWithCodes(
  ws:
    | DeskWorkstation
    | { readonly db: RowStore; readonly lists: ListService; readonly keystore: { current(): Keystore } },
): Promise<{ card: CardRecord; list: ListRecord; codes: string[] }> {
  const { card } = await cardRow('db' in ws ? ws.db : deskSql(ws).repos, { sealMode: 'public-key' });
  const port = new KeystoreCardKeyPort(ws.keystore.current());
  const { list } = await ws.lists.queueNext(card.id, 'first', MANAGER);
  const prepared = await ws.lists.sealForPush(list.id, port, await port.issuerKey(), {
    mode: 'public-key',
    cardPublicKey: rsaPublicKeyBytes(cardRsa.publicKey),
  });
  const codes = codesFromPublicKeyEnvelope(prepared.envelope, cardRsa.privateKey);
  if (!codes) throw new Error('the envelope did not open with the card key');
  await ws.lists.markStaged(list.id);
  await ws.lists.markCommitted(list.id);
  await ws.lists.markReceiptVerified(list.id);
  return { card, list: await ws.lists.activate(list.id, MANAGER), codes };
}

export interface RunningService {
  readonly core: VerificationCore;
  readonly url: string;
  /** A new client's API key with these scopes. */
  key(...scopes: VerifyScope[]): Promise<string>;
  close(): Promise<void>;
}

/** The service in this process, on 127.0.0.1 and a free port, its keystore unlocked with the desk's passphrase. */
export async function startService(
  dataDir: string,
  opts: Partial<Pick<VerifyAppDeps, 'rateLimit' | 'bodyLimit'>> & {
    failureLimit?: number;
    now?: () => Date;
    durability?: Durability;
  } = {},
): Promise<RunningService> {
  const core = openVerificationCore({
    dataDir,
    keystore: { backend: 'software', file: `${dataDir}/keystore/keystore.otacks` },
    ...(opts.failureLimit !== undefined ? { failureLimit: opts.failureLimit } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.durability ? { durability: opts.durability } : {}),
  });
  await core.keystore.unlock(KEYSTORE_PASSPHRASE, SERVICE_ACTOR);
  const { app } = buildVerifyApp({
    verification: core.verification,
    challenges: core.challenges,
    clients: core.clients,
    durable: core.durable,
    ready: () => ({ keystore: core.keystore.currentOrNull() !== null, database: true }),
    log: core.log,
    version: 'test',
    rateLimit: opts.rateLimit ?? { burst: 10_000, perSecond: 10_000 },
    ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    core,
    url,
    key: async (...scopes) => (await core.clients.create({ name: 'test-bank', scopes, by: 'test' })).apiKey,
    close: async () => {
      await app.close();
      await core.close();
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/** One request; `body` is sent as given when it is a string, else as JSON. */
export async function call(
  url: string,
  path: string,
  opts: { key?: string; body?: unknown; method?: string; contentType?: string | null } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.key) headers['authorization'] = `Bearer ${opts.key}`;
  const contentType = opts.contentType === undefined ? 'application/json' : opts.contentType;
  if (opts.body !== undefined && contentType !== null) headers['content-type'] = contentType;
  const res = await fetch(`${url}${path}`, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text (metrics) stays text
  }
  return { status: res.status, headers: res.headers, body };
}

const ROOT = join(__dirname, '../..');

export interface ServiceProcess {
  readonly proc: ChildProcess;
  readonly url: string;
  /** SIGTERM and wait for the exit (a clean stop). */
  stop(): Promise<number | null>;
}

/**
 * `npm run serve:verify` as its own process on a free loopback port, the keystore passphrase handed
 * over on file descriptor 3 (OTAC_KEYSTORE_SECRET_FD), as an operator or a secret store would.
 */
export function startServiceProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  // OTAC_SERVICE_NODE_ARGS: extra node flags for the service, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p" to profile the bench.
  const nodeArgs = process.env['OTAC_SERVICE_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', join(ROOT, 'src/verify-service/verify-server.ts')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        OTAC_DATA_DIR: dataDir,
        OTAC_VERIFY_PORT: '0',
        OTAC_KEYSTORE: 'software',
        OTAC_KEYSTORE_SECRET_FD: '3',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    },
  );
  (proc.stdio[3] as NodeJS.WritableStream).end(`${KEYSTORE_PASSPHRASE}\n`);
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
      proc.once('exit', (code) => resolve(code));
      proc.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`service did not start: ${out} ${err}`)), 30_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (https?:\/\/[^\s]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], stop });
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited (${code}): ${out} ${err}`));
    });
  });
}

/** A new client's API key, made on `db` (the desk's connection) as the CLI would. */
export async function clientKey(db: Database, ...scopes: VerifyScope[]): Promise<string> {
  const clients = new VerifyClientService(new SqliteVerifyClientRepository(db), new AuditService(db));
  return (await clients.create({ name: 'bank', scopes, by: 'test' })).apiKey;
}

/**
 * A desk on the engine the run tests (restartableWorkstation): `sql` looks behind it, `database` is
 * what a verification service beside it opens on PostgreSQL (startServiceBeside).
 */
export type EngineDesk = RestartableDesk;

/**
 * deskWithKeystore on the engine the run tests: for the desk's own features (support cases, usage,
 * reissue, verification clients made at the desk) that need a keystore ready to seal lists and cards
 * with codes (cardWithCodes). The tests of the SQLite verification service's own behaviour keep
 * deskWithKeystore, whose core opens the desk's file.
 */
export async function engineDeskWithKeystore(
  options: Partial<Pick<WorkstationOptions, 'now' | 'support'>> = {},
): Promise<EngineDesk> {
  const desk = await restartableWorkstation({ ...options, keystoreScryptCost: CHEAP_SCRYPT });
  try {
    const officer = await setupOfficer(desk.ws);
    await prepareKeystore(desk.ws, officer, await addOperator(desk.ws, 'security_officer'));
  } catch (err) {
    await desk.dispose();
    throw err;
  }
  return desk;
}

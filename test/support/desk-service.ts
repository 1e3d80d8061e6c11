import { join } from 'node:path';
import type { PgDatabaseOptions } from '../../src/core/db/pg/pg-database';
import type { DeskWorkstation } from '../../src/core/workstation';
import { buildVerifyApp } from '../../src/verify-service/app';
import { SERVICE_ACTOR } from '../../src/verify-service/service-core';
import { openPgVerificationCore } from '../../src/verify-service/service-core.pg';
import { KEYSTORE_PASSPHRASE } from './keys';
import { deskSql, PG_URL_ENV, testEngine } from './test-engine';
import { startService, type RunningService } from './verify-service';

/**
 * The verification service beside a desk opened by freshWorkstation/cardDesk, on the desk's data
 * whatever engine the run tests: on SQLite the service core on the desk's data directory
 * (startService); on PostgreSQL the PostgreSQL service core on the desk's own database, as a
 * branch network runs it. Either way with the desk's keystore file, unlocked with KEYSTORE_PASSPHRASE.
 */
export async function startDeskService(
  ws: DeskWorkstation,
  dataDir: string,
  opts: ServiceOptions = {},
): Promise<Omit<RunningService, 'core'>> {
  if (testEngine === 'sqlite') return startService(dataDir, opts);
  const cluster = process.env[PG_URL_ENV];
  const database = await deskSql(ws).get<{ name: string }>('SELECT current_database() AS name');
  if (!cluster || !database) throw new Error('startDeskService: the desk is not on the run’s PostgreSQL cluster');
  return startServiceOn(dataDir, { url: `${cluster}/${database.name}`, ssl: false }, opts);
}

type ServiceOptions = { now?: () => Date; failureLimit?: number };

/**
 * The verification service on a desk's data directory (its keystore file) and on `database`: the
 * PostgreSQL service core there, or with null the SQLite core on the directory's file.
 */
export async function startServiceOn(
  dataDir: string,
  database: PgDatabaseOptions | null,
  opts: ServiceOptions = {},
): Promise<Omit<RunningService, 'core'>> {
  if (!database) return startService(dataDir, opts);
  const core = await openPgVerificationCore({
    dataDir,
    keystore: { backend: 'software', file: join(dataDir, 'keystore', 'keystore.otacks') },
    databaseUrl: database,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.failureLimit !== undefined ? { failureLimit: opts.failureLimit } : {}),
  });
  try {
    await core.keystore.unlock(KEYSTORE_PASSPHRASE, SERVICE_ACTOR);
    const { app } = buildVerifyApp({
      verification: core.verification,
      challenges: core.challenges,
      clients: core.clients,
      durable: core.durable,
      ready: () => ({ keystore: core.keystore.currentOrNull() !== null, database: core.databaseAnswers() }),
      log: core.log,
      version: 'test',
      rateLimit: { burst: 10_000, perSecond: 10_000 },
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return {
      url,
      key: async (...scopes) => (await core.clients.create({ name: 'test-bank', scopes, by: 'test' })).apiKey,
      close: async () => {
        await app.close();
        await core.close();
      },
    };
  } catch (err) {
    await core.close();
    throw err;
  }
}

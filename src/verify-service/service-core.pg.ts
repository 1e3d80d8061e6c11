import { join } from 'node:path';
import { PgAuditLog, PgAuditTrail } from '../core/audit/audit-log.pg';
import { assertPgSchemaCurrent } from '../core/db/pg/migrate-pg';
import { PgDatabase, type PgDatabaseOptions } from '../core/db/pg/pg-database';
import { pgRepositories } from '../core/db/repositories';
import { Closers } from '../core/feature-module';
import { KeystoreHolder, type KeystoreLocation } from '../core/keystore/keystore-holder.service';
import { ListService, SYSTEM_ACTOR } from '../core/lists/list.service';
import { createLogger, type Logger } from '../core/log';
import { PgPolicySource } from '../core/policy/policy-source.pg';
import { CHALLENGE_TTL_MS, ChallengeService } from '../core/verification/challenge.service';
import { ClientCertificateService } from '../core/verification/client-certificate.service';
import { VerificationService } from '../core/verification/verification.service';
import { PgDecisionStore } from '../core/verification/verification-store.pg';
import { VerifyClientService } from '../core/verification/verify-client.service';

// The verification service on the shared issuer database (issue 12 item 3): any number of
// instances, on any machines, behind one PostgreSQL. What the SQLite core (service-core.ts) gets
// from being the only writer on a local file, this one gets from the database:
// - Durability is PostgreSQL's own commit: an acceptance is answered after the statement that
//   marked the use has committed (synchronous_commit is the server's setting), so there is no WAL
//   fsync of ours and no batch commit, and `durable()` has nothing left to wait for.
// - No per-data-dir instance lock: instances share the database, not a directory. Each has its own
//   data directory for its log and its copy of the keystore.
// - Exactly-once use marks, the lockout's count and the audit chain hold across instances through
//   the repositories' compare-and-sets and the chain head's row lock (docs/storage.md).
// - Nothing is cached past a commit another instance may have made: an API key is looked up on every
//   request or, on /v1/verify, confirmed by the decision's own read; a client certificate is looked
//   up on every request (no PRAGMA data_version on PostgreSQL); the policy
//   version is read with each decision's rows (PgDecisionStore.read, the policy row fetched again
//   when it moved), the card key series at each use.
// - The schema is the desks' to make: an unmigrated or foreign database is refused at start.
// One thread: the worker-thread split of the SQLite service exists to keep one writer's fsyncs off
// the HTTP thread; here the writes wait on the network, not on this process.

export interface PgVerificationCoreOptions {
  readonly dataDir: string;
  readonly keystore: KeystoreLocation;
  /**
   * The database: its postgres:// URL (OTAC_DATABASE_URL), or the options pg-config.ts made from the
   * environment (TLS with OTAC_DATABASE_CA, OTAC_DATABASE_POOL).
   */
  readonly databaseUrl: string | PgDatabaseOptions;
  readonly now?: () => Date;
  readonly echoLog?: boolean;
  readonly failureLimit?: number;
}

export interface PgVerificationCore {
  readonly engine: 'postgres';
  readonly db: PgDatabase;
  readonly log: Logger;
  readonly keystore: KeystoreHolder;
  /** The lists as the service moves them (a threshold refill); tests seed through it too. */
  readonly lists: ListService;
  readonly verification: VerificationService;
  readonly challenges: ChallengeService;
  readonly clients: VerifyClientService;
  readonly certificates: ClientCertificateService;
  readonly durability: 'database';
  /** Nothing to wait for: each write was answered after PostgreSQL's commit. */
  durable(): Promise<void>;
  /** Whether the last look at the database succeeded (for /health: refreshed every few seconds). */
  databaseAnswers(): boolean;
  close(): Promise<void>;
}

/** How often /health's view of the database is refreshed. */
const PING_MS = 2000;

export async function openPgVerificationCore(opts: PgVerificationCoreOptions): Promise<PgVerificationCore> {
  let log: Logger | undefined;
  const closers = new Closers((name, err) => log?.error('closing failed', { step: name, error: String(err) }));
  try {
    log = createLogger(join(opts.dataDir, 'logs', 'verify-service.log'), opts.echoLog ?? false);
    const given = typeof opts.databaseUrl === 'string' ? { url: opts.databaseUrl } : opts.databaseUrl;
    // Every request runs the same few statements: each is parsed and planned once per connection.
    const db = new PgDatabase({
      maxConnections: 20,
      applicationName: 'otac-verify-service',
      preparedStatements: true,
      ...given,
    });
    closers.add('database', () => db.close());
    await assertPgSchemaCurrent(db);
    const now = opts.now ?? (() => new Date());
    const audit = new PgAuditTrail(new PgAuditLog(db, now));
    const policies = new PgPolicySource(db);
    await policies.refresh();
    const repos = pgRepositories(db, audit);
    const { cards, lists: listRepo } = repos;
    const lists = new ListService(listRepo, cards, policies, repos.atomically, now);
    const keystore = new KeystoreHolder(opts.keystore, { cardSeries: repos.cardSeries, audit, log });
    closers.add('keystore', () => keystore.lock(null));
    const verification = new VerificationService(cards, listRepo, lists, keystore, audit, policies, {
      now,
      lockout: {
        failures: repos.failures,
        ...(opts.failureLimit !== undefined ? { limit: opts.failureLimit } : {}),
      },
      events: repos.verificationEvents,
      atomically: repos.atomically,
      // The decision's reads in one statement and an acceptance in one (verification-store.pg.ts).
      store: new PgDecisionStore(db, policies),
    });
    // No `changedElsewhere`: a key is looked up at every request, except on /v1/verify, where the
    // decision's read confirms it (`confirmedAtUse`, PgDecisionStore.read). Either way a revocation
    // made through any instance or desk is refused here at the key's next request.
    const clients = new VerifyClientService(repos.verifyClients, audit, now, {
      atomically: repos.atomically,
      confirmedAtUse: true,
    });
    const challenges = new ChallengeService(
      cards,
      repos.challenges,
      verification,
      keystore,
      audit,
      now,
      SYSTEM_ACTOR,
      CHALLENGE_TTL_MS,
      repos.atomically,
    );
    const certificates = new ClientCertificateService(repos.clientCertificates, keystore, audit, now, repos.atomically);
    let answers = true;
    const ping = setInterval(() => {
      db.query('SELECT 1').then(
        () => (answers = true),
        () => (answers = false),
      );
    }, PING_MS);
    ping.unref();
    closers.add('health ping', () => clearInterval(ping));
    return {
      engine: 'postgres',
      db,
      log,
      keystore,
      lists,
      verification,
      challenges,
      clients,
      certificates,
      durability: 'database',
      durable: () => Promise.resolve(),
      databaseAnswers: () => answers,
      close: () => closers.closeAll(),
    };
  } catch (err) {
    await closers.closeAll();
    throw err;
  }
}

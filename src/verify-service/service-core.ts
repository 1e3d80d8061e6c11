import { join } from 'node:path';
import { AuditService } from '../core/audit/audit.service';
import { SqliteCardRepository } from '../core/cards/card.repository';
import { openDatabase, type Database } from '../core/db/database';
import { Closers } from '../core/feature-module';
import { acquireInstanceLock } from '../core/instance-lock';
import { SqliteCardSeriesStore } from '../core/keystore/card-series.repository';
import { KeystoreHolder, type KeystoreActor, type KeystoreLocation } from '../core/keystore/keystore-holder.service';
import { SqliteListRepository } from '../core/lists/list.repository';
import { ListService } from '../core/lists/list.service';
import { createLogger, type Logger } from '../core/log';
import { DbPolicySource } from '../core/policy/policy.service';
import { SqliteFailureCounterRepository } from '../core/verification/failure.repository';
import { ClientCertificateService } from '../core/verification/client-certificate.service';
import { SqliteClientCertificateRepository } from '../core/verification/client-certificate.repository';
import { VerificationService } from '../core/verification/verification.service';
import { SqliteVerificationEventsRepository } from '../core/verification/verification-events.repository';
import { SqliteVerifyClientRepository } from '../core/verification/verify-client.repository';
import { VerifyClientService } from '../core/verification/verify-client.service';
import { ChallengeService } from '../core/verification/challenge.service';
import { SqliteChallengeRepository } from '../core/verification/challenge.repository';
import { sqliteRepositories } from '../core/db/repositories';
import { BatchCommit } from './batch-commit';
import { WalSync } from './wal-sync';

// The core the verification service runs on: the same classes and database file as the desk
// (workstation.ts composes them the same way in listsModule), without what only a desk needs
// (operators' sessions, readers, the mailer, contract handlers).
//
// Beside a running desk: the desk holds `workstation.lock`; the service takes its own
// `verify-service.lock` (one service per data directory, so the per-N rate limit and the per-card
// order of the lockout live in one process) and shares the SQLite file in WAL mode, where one writer
// at a time is SQLite's own rule and busy_timeout waits for the other process.
//
// Durability: an acceptance is answered only once its use mark is on disk. Two ways, by option:
// - 'group' (the default): this connection runs `synchronous = NORMAL` (commits are written to the
//   WAL, not fsynced) and the service awaits `durable()` (wal-sync.ts) before answering: one fsync of
//   the WAL, started after the commit, covers every commit made before it, so concurrent requests
//   share fsyncs (a group commit) and the event loop keeps working while the disk syncs.
// - 'full': `synchronous = FULL`: SQLite fsyncs the WAL inside every commit, before markUse returns;
//   one fsync per write, taken on the event loop. Simple, and the baseline in bench/verify.bench.ts.
// The desk keeps NORMAL on its own connection (synchronous is a per-connection setting).

export type Durability = 'group' | 'full';

export const SERVICE_ACTOR: KeystoreActor = {
  operatorId: null,
  operator: 'verification-service',
  role: null,
};

export interface VerificationCore {
  readonly db: Database;
  readonly log: Logger;
  readonly keystore: KeystoreHolder;
  readonly verification: VerificationService;
  readonly challenges: ChallengeService;
  readonly clients: VerifyClientService;
  readonly certificates: ClientCertificateService;
  readonly durability: Durability;
  /** Resolves when everything this connection committed so far is on disk. */
  durable(): Promise<void>;
  close(): Promise<void>;
}

const walSyncs = new WeakMap<Database, WalSync>();

/** How many WAL fsyncs the group commit has made on `db` (tests: fewer than the acceptances). */
export function walSyncCount(db: Database): number {
  return walSyncs.get(db)?.syncs ?? 0;
}

/**
 * True once another connection (the CLI, the desk) has committed since the last call: PRAGMA
 * data_version moves then. A key once checked is not hashed and looked up again until it does, since
 * that commit may be the key's revocation (verify-client.service.ts).
 */
export function dataVersionWatch(db: Database): () => boolean {
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  let seen = dataVersion.get();
  return () => {
    const v = dataVersion.get();
    if (v === seen) return false;
    seen = v;
    return true;
  };
}

export function openVerificationCore(opts: {
  dataDir: string;
  keystore: KeystoreLocation;
  now?: () => Date;
  echoLog?: boolean;
  failureLimit?: number;
  durability?: Durability;
}): VerificationCore {
  const durability = opts.durability ?? 'group';
  const release = acquireInstanceLock(opts.dataDir, 'verify-service');
  let log: Logger | undefined;
  const closers = new Closers((name, err) => log?.error('closing failed', { step: name, error: String(err) }));
  closers.add('instance lock', release);
  try {
    log = createLogger(join(opts.dataDir, 'logs', 'verify-service.log'), opts.echoLog ?? false);
    const db = openDatabase(join(opts.dataDir, 'workstation.db'));
    closers.add('database', () => db.close());
    // SQLite's default page cache is 2 MiB; at a million cards every verification's card, list and
    // use pages then come from the kernel (a read syscall each). 256 MiB keeps the hot index and
    // table pages in this process (docs/verification-service.md "Scale").
    db.pragma('cache_size = -262144');
    let durable: () => Promise<void> = () => Promise.resolve();
    if (durability === 'full') db.pragma('synchronous = FULL');
    else {
      db.pragma('synchronous = NORMAL');
      const wal = new WalSync(join(opts.dataDir, 'workstation.db-wal'));
      closers.add('wal sync', () => wal.close());
      durable = () => wal.durable();
      walSyncs.set(db, wal);
    }
    const now = opts.now ?? (() => new Date());
    const audit = new AuditService(db, now);
    const policies = new DbPolicySource(db);
    const cards = new SqliteCardRepository(db);
    const listRepo = new SqliteListRepository(db);
    const lists = new ListService(listRepo, cards, policies, sqliteRepositories(db, audit).atomically, now);
    const keystore = new KeystoreHolder(opts.keystore, { cardSeries: new SqliteCardSeriesStore(db), audit, log });
    closers.add('keystore', () => keystore.lock(null));
    // Group mode: the verifications of one event-loop turn share a transaction (batch-commit.ts).
    const batch = durability === 'group' ? new BatchCommit(db) : null;
    const verification = new VerificationService(cards, listRepo, lists, keystore, audit, policies, {
      now,
      lockout: {
        failures: new SqliteFailureCounterRepository(db),
        ...(opts.failureLimit !== undefined ? { limit: opts.failureLimit } : {}),
      },
      events: new SqliteVerificationEventsRepository(db),
      ...(batch ? { commitScope: batch.run } : {}),
    });
    const clients = new VerifyClientService(new SqliteVerifyClientRepository(db), audit, now, {
      changedElsewhere: dataVersionWatch(db),
    });
    const challenges = new ChallengeService(
      cards,
      new SqliteChallengeRepository(db),
      verification,
      keystore,
      audit,
      now,
    );
    const certificates = new ClientCertificateService(new SqliteClientCertificateRepository(db), keystore, audit, now);
    return {
      db,
      log,
      keystore,
      verification,
      challenges,
      clients,
      certificates,
      durability,
      durable,
      close: () => closers.closeAll(),
    };
  } catch (err) {
    void closers.closeAll();
    throw err;
  }
}

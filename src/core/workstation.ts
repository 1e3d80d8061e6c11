import { join } from 'node:path';
import { contract } from '../shared/contract';
import { AuditService } from './audit/audit.service';
import { authHandlers } from './auth/auth.ipc';
import { AuthService } from './auth/auth.service';
import { SessionStore } from './auth/session.store';
import { openDatabase, type Database } from './db/database';
import { acquireInstanceLock } from './instance-lock';
import { createLogger, type Logger } from './log';
import { restrictTree } from './private-files';
import { DbPolicySource, PolicyService } from './policy/policy.service';
import { policyHandlers } from './policy/policy.ipc';
import { AdminService } from './admin/admin.service';
import { adminHandlers } from './admin/admin.ipc';
import { dualControlHandlers } from './dual-control/dual-control.ipc';
import { DualControlService } from './dual-control/dual-control.service';
import { AuditCheckpointService } from './audit/audit-checkpoint.service';
import { auditHandlers } from './audit/audit.ipc';
import type { AuditSigner } from './audit/audit-signer';
import { fixedAuditTrust, keystoreAuditSigner, keystoreAuditTrust } from './audit/keystore-audit-signer';
import { createReaderMonitor, type ReaderMode } from './card/reader-setup';
import { readerHandlers } from './card/reader.ipc';
import { SqliteCardSeriesStore } from './keystore/card-series.repository';
import { keysHandlers } from './keystore/keys.ipc';
import { KeystoreBackups } from './keystore/keystore-backup.service';
import { KeystoreHolder, keystoreLocationFromEnv, type KeystoreLocation } from './keystore/keystore-holder.service';
import { EventBus } from './rpc/event-bus';
import { EventFeed } from './rpc/event-feed';
import { Router, type HandlersFor } from './rpc/router';
import { systemHandlers } from './system/system.ipc';

export interface WorkstationOptions {
  /** Where the database, keystore, logs and card stock live. Each test uses a fresh one. */
  readonly dataDir: string;
  readonly shell: 'electron' | 'browser';
  readonly version: string;
  readonly echoLog?: boolean;
  /** Card readers: PC/SC, the in-process training reader, or none (the default, for tests). */
  readonly readers?: ReaderMode;
  /** Where the keystore lives; by default OTAC_KEYSTORE, else the software file under dataDir/keystore. */
  readonly keystore?: KeystoreLocation;
  /** Signs audit checkpoints instead of the keystore's audit key (tests that need no keystore). */
  readonly auditSigner?: AuditSigner;
  /** The clock for lockouts and throttling (ms since the epoch); tests move it instead of waiting. */
  readonly now?: () => number;
}

export interface Workstation {
  readonly router: Router;
  readonly events: EventBus;
  /** Delivers events to one client: only what its session's role may see (rpc/event-feed.ts). */
  readonly feed: EventFeed;
  readonly db: Database;
  readonly log: Logger;
  /** Locked at start; a security officer opens it on the Keys page. */
  readonly keystore: KeystoreHolder;
  /** Signed audit checkpoints; `idle()` settles once queued signatures are written. */
  readonly checkpoints: AuditCheckpointService;
  close(): Promise<void>;
}

/**
 * The composition root: open the database, run migrations, build the services in order,
 * register the contract. Unlocks nothing by itself (the keystore waits for its officer).
 */
export function createWorkstation(opts: WorkstationOptions): Workstation {
  const keystoreLocation = opts.keystore ?? keystoreLocationFromEnv(process.env, opts.dataDir);
  const releaseLock = acquireInstanceLock(opts.dataDir);
  restrictTree(join(opts.dataDir, 'keystore')); // keystore file and backups an earlier version left readable
  const log = createLogger(join(opts.dataDir, 'logs', 'workstation.log'), opts.echoLog ?? false);
  let db: Database;
  try {
    db = openDatabase(join(opts.dataDir, 'workstation.db'));
  } catch (err) {
    releaseLock();
    throw err;
  }
  const events = new EventBus();
  const { monitor } = createReaderMonitor(opts.readers ?? 'none', events, log);
  const audit = new AuditService(db);
  const policies = new DbPolicySource(db);
  const sessions = new SessionStore(() => policies.current().sessionTimeoutMinutes * 60_000);
  const auth = new AuthService(db, sessions, audit, policies, opts.now);
  const dualControl = new DualControlService(auth, audit, policies);
  const cardSeries = new SqliteCardSeriesStore(db);
  const keystore = new KeystoreHolder(keystoreLocation, { cardSeries, audit, log });
  // The keystore's audit key signs checkpoints; while it is locked they wait for the unlock (docs/audit.md).
  const fixedSigner = opts.auditSigner;
  const auditSigner = fixedSigner ? async () => fixedSigner : keystoreAuditSigner(() => keystore.currentOrNull());
  const checkpoints = new AuditCheckpointService(
    db,
    audit,
    auditSigner,
    () => policies.current().auditCheckpointEvery,
    log,
  );
  const stopCheckpoints = checkpoints.start();
  keystore.onUnlocked(() => void checkpoints.signDue());
  const backups = new KeystoreBackups(join(opts.dataDir, 'keystore', 'backups'), keystore);
  const policyService = new PolicyService(db, audit, dualControl);
  const admin = new AdminService(db, sessions, audit, dualControl, opts.now);

  const handlers: HandlersFor<typeof contract> = {
    ...authHandlers(auth, sessions),
    ...adminHandlers({ admin, events }),
    ...policyHandlers({ policies: policyService, events }),
    ...dualControlHandlers(dualControl),
    ...auditHandlers({
      db,
      audit,
      checkpoints,
      trust: fixedSigner ? fixedAuditTrust(fixedSigner) : keystoreAuditTrust(() => keystore.currentOrNull()),
    }),
    ...keysHandlers({ keystore, dualControl, auth, cardSeries, backups, events }),
    ...systemHandlers(db, opts, audit),
    ...readerHandlers(monitor),
  };
  const router = new Router(contract, handlers, {
    sessions,
    audit,
    log,
    onSessionExpired: (clientId, session) => {
      events.emitTo(clientId, 'session:ended', { reason: 'timeout' });
      audit.append({
        operatorId: session.operatorId,
        operator: session.username,
        role: session.role,
        action: 'auth.timeout',
        outcome: 'ok',
      });
    },
  });
  log.info('workstation started', { shell: opts.shell, version: opts.version });

  return {
    router,
    events,
    feed: new EventFeed(events, (clientId) => sessions.peek(clientId)),
    db,
    log,
    keystore,
    checkpoints,
    close: async () => {
      stopCheckpoints();
      await checkpoints.idle();
      await keystore.lock(null);
      await monitor?.stop();
      db.close();
      releaseLock();
    },
  };
}

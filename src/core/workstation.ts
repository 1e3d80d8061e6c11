import { join } from 'node:path';
import { contract } from '../shared/contract';
import { activationModule } from './activation/activation.module';
import { cloneModule } from './clone/clone.module';
import { verifyDeskModule } from './verification/verify-desk.module';
import { pushModule } from './push/push.module';
import { reissueModule } from './reissue/reissue.module';
import type { ReissueGate } from './reissue/reissue-gate';
import { adminModule } from './admin/admin.module';
import { auditModule } from './audit/audit.module';
import { customersModule } from './customers/customers.module';
import type { AuditCheckpointService } from './audit/audit-checkpoint.service';
import { AuditService, type AuditTrail } from './audit/audit.service';
import { PgAuditLog, PgAuditTrail } from './audit/audit-log.pg';
import type { AuditSigner } from './audit/audit-signer';
import { authHandlers } from './auth/auth.ipc';
import { AuthService } from './auth/auth.service';
import { SqliteOperatorRepository, type OperatorRepository } from './auth/operator.repository';
import { PgOperatorRepository } from './auth/operator.repository.pg';
import { SessionStore } from './auth/session.store';
import { createReaderMonitor, type ReaderMode } from './card/reader-setup';
import { readerHandlers } from './card/reader.ipc';
import type { CardReaderService } from './card/reader.types';
import { openDatabase, type Database } from './db/database';
import { pgRepositories, sqliteRepositories, type IssuerRepositories } from './db/repositories';
import { pgSettingsFromEnv } from './db/pg/pg-config';
import { assertPgSchemaCurrent, migratePg } from './db/pg/migrate-pg';
import { PgDatabase, sqlState, type PgDatabaseOptions } from './db/pg/pg-database';
import { AppError, isAppError } from './errors';
import { enrollmentModule } from './enrollment/enrollment.module';
import { dualControlHandlers } from './dual-control/dual-control.ipc';
import { DualControlService } from './dual-control/dual-control.service';
import { Closers, type Core, type FeatureModule } from './feature-module';
import { acquireInstanceLock } from './instance-lock';
import { keysModule } from './keystore/keys.module';
import { listsModule } from './lists/lists.module';
import type { TrainingCardMaker } from './enrollment/training-stock';
import type { ListService } from './lists/list.service';
import type { VerificationService } from './verification/verification.service';
import { KeystoreHolder, keystoreLocationFromEnv, type KeystoreLocation } from './keystore/keystore-holder.service';
import { createLogger, type Logger } from './log';
import { mailerModule, type MailerOptions } from './mailer/mailer.module';
import { DbPolicySource, type PolicySource } from './policy/policy.service';
import { PgPolicySource } from './policy/policy-source.pg';
import { policyModule } from './policy/policy.module';
import { SqlitePolicyVersionStore, type PolicyVersionStore } from './policy/policy.repository';
import { PgPolicyVersionStore } from './policy/policy.repository.pg';
import { restrictTree } from './private-files';
import { EventBus } from './rpc/event-bus';
import { EventFeed } from './rpc/event-feed';
import { Router, type HandlersFor } from './rpc/router';
import { supportModule } from './support/support.module';
import type { SupportOptions } from './support/support-settings';
import { systemModule } from './system/system.module';
import { usageModule } from './usage/usage.module';
import type { FileSaver, UsageCsvExport } from './usage/usage-csv';

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
  /**
   * The branch network's shared PostgreSQL (openWorkstation only); by default from OTAC_DATABASE_URL
   * (db/pg/pg-config.ts); null or unset there: this desk's SQLite file under dataDir.
   */
  readonly database?: PgDatabaseOptions | null;
  /** Signs audit checkpoints instead of the keystore's audit key (tests that need no keystore). */
  readonly auditSigner?: AuditSigner;
  /** The clock for lockouts and throttling (ms since the epoch); tests move it instead of waiting. */
  readonly now?: () => number;
  /** The mailer's Chromium and printer (src/host, src/main); without a renderer this desk prints no mailer. */
  readonly mailer?: MailerOptions;
  /** Electron main's save dialog for streamed exports (usage CSV); browser mode downloads instead. */
  readonly saveFile?: FileSaver;
  /** Training mode's practice cards, kept in `dir` (src/card-sim/training-cards.ts); without it, no drawer. */
  readonly trainingCards?: (dir: string) => TrainingCardMaker;
  /** Passkey channels (SMTP, SMS gateway) and the claim-3 inbound listener; by default from OTAC_SMTP_* etc. (docs/support.md). */
  readonly support?: SupportOptions;
  /** Which support cases may be reissued; by default the support case service's verified cases (tests may give their own). */
  readonly reissueGate?: ReissueGate;
}

/** A running desk on either engine (openWorkstation). */
export interface DeskWorkstation {
  readonly engine: 'sqlite' | 'postgres';
  readonly router: Router;
  readonly events: EventBus;
  /** Delivers events to one client: only what its session's role may see (rpc/event-feed.ts). */
  readonly feed: EventFeed;
  readonly log: Logger;
  /** Locked at start; a security officer opens it on the Keys page. */
  readonly keystore: KeystoreHolder;
  /** Signed audit checkpoints; `idle()` settles once queued signatures are written. */
  readonly checkpoints: AuditCheckpointService;
  /** Code lists: queue, seal for the push, record its steps, refill (lists/list.service.ts). */
  readonly lists: ListService;
  /** verify(N, code, index?): the one place a code is checked and its use marked. */
  readonly verification: VerificationService;
  /** The card readers (null without a reader service): tests and training put cards in them. */
  readonly readers: CardReaderService | null;
  /** The usage table as a streamed CSV file, for the transports' download (docs/usage-review.md). */
  readonly usageCsv: UsageCsvExport;
  /** The claim-3 inbound mail listener's port once bound; null when not configured (docs/support.md). */
  readonly inboundMailPort: () => Promise<number | null>;
  close(): Promise<void>;
}

/** A desk on its own SQLite file (createWorkstation): tests look behind the code through `db`. */
export interface Workstation extends DeskWorkstation {
  readonly engine: 'sqlite';
  readonly db: Database;
}

/** What the platform is built on: the issuer's data, audit, policies and operators on one engine. */
interface DeskStorage {
  readonly repos: IssuerRepositories;
  readonly audit: AuditTrail;
  readonly policies: PolicySource;
  readonly operators: OperatorRepository;
  readonly policyVersions: PolicyVersionStore;
}

function sqliteStorage(db: Database): DeskStorage {
  const audit = new AuditService(db);
  return {
    repos: sqliteRepositories(db, audit),
    audit,
    policies: new DbPolicySource(db),
    operators: new SqliteOperatorRepository(db, audit),
    policyVersions: new SqlitePolicyVersionStore(db, audit),
  };
}

function pgStorage(db: PgDatabase): DeskStorage {
  const audit = new PgAuditTrail(new PgAuditLog(db));
  return {
    repos: pgRepositories(db, audit),
    audit,
    policies: new PgPolicySource(db),
    operators: new PgOperatorRepository(db, audit),
    policyVersions: new PgPolicyVersionStore(db, audit),
  };
}

/**
 * The desk on the engine its settings name: the branch network's PostgreSQL when `opts.database`
 * or OTAC_DATABASE_URL gives one (docs/storage.md "Branch network"), else this desk's SQLite file
 * (createWorkstation). On PostgreSQL the schema is brought up to date first (migratePg: a foreign,
 * newer or other build's schema is refused with nothing changed), and a server that does not answer
 * is one clear refusal (DB_UNREACHABLE): the desk never falls back to a local file of its own.
 */
export async function openWorkstation(opts: WorkstationOptions): Promise<DeskWorkstation> {
  const settings = opts.database !== undefined ? opts.database : pgSettingsFromEnv(process.env);
  if (!settings) return createWorkstation(opts);
  const keystoreLocation = opts.keystore ?? keystoreLocationFromEnv(process.env, opts.dataDir);
  const releaseLock = acquireInstanceLock(opts.dataDir);
  let log: Logger | undefined;
  const closers = new Closers((name, err) => log?.error('closing failed', { step: name, error: String(err) }));
  closers.add('instance lock', releaseLock);
  try {
    restrictTree(join(opts.dataDir, 'keystore'));
    log = createLogger(join(opts.dataDir, 'logs', 'workstation.log'), opts.echoLog ?? false);
    const db = new PgDatabase({ applicationName: 'otac-workstation', ...settings });
    closers.add('database', () => db.close());
    await bringSchemaUp(db);
    const storage = pgStorage(db);
    await storage.policies.refresh?.();
    return { ...assemble(opts, storage, log, keystoreLocation, closers), engine: 'postgres' };
  } catch (err) {
    await closers.closeAll();
    throw err;
  }
}

/**
 * A current schema is used as it is; a missing migration is applied when this desk's login may (a
 * first desk on an empty database, or the owner). With the branch network's roles a desk's login
 * makes no table (docs/storage.md "Branch network: roles"): then the owner migrates first.
 */
async function bringSchemaUp(db: PgDatabase): Promise<void> {
  try {
    await assertPgSchemaCurrent(db);
    return;
  } catch (err) {
    if (!isAppError(err) || err.code !== 'DB_NOT_MIGRATED') throw err;
  }
  try {
    await migratePg(db);
  } catch (err) {
    if (sqlState(err) !== '42501') throw err;
    throw new AppError(
      'DB_SCHEMA_BEHIND',
      "The shared database needs this version's migrations, and this desk's database login may not apply them. " +
        'Ask the database owner to run `npm run db:roles -- <owner URL>` (it migrates the schema), then start the desk again; nothing was changed.',
    );
  }
}

/**
 * The composition root: open the database, build the platform every feature uses (audit,
 * sessions, dual control, keystore, readers), then one module per feature, then start what runs
 * (timers, readers). Unlocks nothing by itself (the keystore waits for its officer). A start that
 * fails part-way releases what it took: the instance lock and the database; nothing was started.
 */
export function createWorkstation(opts: WorkstationOptions): Workstation {
  const keystoreLocation = opts.keystore ?? keystoreLocationFromEnv(process.env, opts.dataDir);
  const releaseLock = acquireInstanceLock(opts.dataDir);
  let log: Logger | undefined;
  const closers = new Closers((name, err) => log?.error('closing failed', { step: name, error: String(err) }));
  closers.add('instance lock', releaseLock);
  try {
    restrictTree(join(opts.dataDir, 'keystore')); // keystore file and backups an earlier version left readable
    log = createLogger(join(opts.dataDir, 'logs', 'workstation.log'), opts.echoLog ?? false);
    const db = openDatabase(join(opts.dataDir, 'workstation.db'));
    closers.add('database', () => db.close());
    return { ...assemble(opts, sqliteStorage(db), log, keystoreLocation, closers), engine: 'sqlite', db };
  } catch (err) {
    void closers.closeAll(); // only synchronous steps are registered before anything starts
    throw err;
  }
}

/**
 * Builds the platform on `storage`, then one module per feature, then starts what runs. Throws with
 * nothing started; the caller releases what it registered in `closers`.
 */
function assemble(
  opts: WorkstationOptions,
  storage: DeskStorage,
  log: Logger,
  keystoreLocation: KeystoreLocation,
  closers: Closers,
): Omit<DeskWorkstation, 'engine'> {
  const core = platform(opts, storage, log, keystoreLocation);

  const audit = auditModule(core);
  const lists = listsModule(core);
  const activation = activationModule(core);
  const usage = usageModule(core);
  const support = supportModule(core);
  // A reported card presented at a desk stays blocked (before reissue's hook, which ends a replaced card).
  const unholdReported = activation.service.onPresented('keep a reported card blocked', support.service.holdReported);
  closers.add('support hold', unholdReported);
  const enrollment = enrollmentModule(core);
  const mailer = mailerModule(core);
  const modules = {
    admin: adminModule(core),
    policy: policyModule(core),
    audit,
    keys: keysModule(core),
    system: systemModule(core),
    customers: customersModule(core),
    enrollment,
    lists,
    mailer,
    activation,
    push: pushModule(core, { lists: lists.lists, listRepo: lists.listRepo, activation: activation.service }),
    clone: cloneModule(core, { lists: lists.lists, listRepo: lists.listRepo }),
    verifyDesk: verifyDeskModule(core, { verification: lists.verification, lists: lists.lists }),
    usage,
    support,
    reissue: reissueModule(core, {
      gate: opts.reissueGate ?? support.service,
      enrollment: enrollment.service,
      lists: lists.lists,
      listRepo: lists.listRepo,
      activation: activation.service,
      sheets: mailer.sheets,
    }),
  } satisfies Record<string, FeatureModule<object>>;
  for (const [name, m] of Object.entries(modules) as [string, FeatureModule<object>][]) {
    if (m.close) closers.add(name, m.close);
  }

  const handlers: HandlersFor<typeof contract> = {
    ...authHandlers(core.auth, core.sessions),
    ...dualControlHandlers(core.dualControl),
    ...readerHandlers(core.monitor),
    ...modules.admin.handlers,
    ...modules.policy.handlers,
    ...modules.audit.handlers,
    ...modules.keys.handlers,
    ...modules.system.handlers,
    ...modules.customers.handlers,
    ...modules.enrollment.handlers,
    ...modules.lists.handlers,
    ...modules.mailer.handlers,
    ...modules.activation.handlers,
    ...modules.push.handlers,
    ...modules.clone.handlers,
    ...modules.verifyDesk.handlers,
    ...modules.usage.handlers,
    ...modules.support.handlers,
    ...modules.reissue.handlers,
  };
  const router = createRouter(core, handlers);

  // Everything is built: start what runs. What each start returns stops it at close.
  for (const [name, m] of Object.entries(modules) as [string, FeatureModule<object>][]) {
    const stop = m.start?.();
    if (stop) closers.add(`${name} (running)`, stop);
  }
  if (core.monitor) {
    const monitor = core.monitor;
    monitor.start();
    closers.add('readers', () => monitor.stop());
  }
  log.info('workstation started', { shell: opts.shell, version: opts.version });

  return {
    router,
    events: core.events,
    feed: new EventFeed(core.events, (clientId) => core.sessions.peek(clientId)),
    log,
    keystore: core.keystore,
    checkpoints: audit.checkpoints,
    lists: modules.lists.lists,
    verification: modules.lists.verification,
    readers: core.readers,
    usageCsv: usage.csv,
    inboundMailPort: support.inboundPort,
    close: () => closers.closeAll(),
  };
}

function platform(
  opts: WorkstationOptions,
  storage: DeskStorage,
  log: Logger,
  keystoreLocation: KeystoreLocation,
): Core {
  const { repos, audit, policies, operators, policyVersions } = storage;
  const events = new EventBus();
  const { monitor, readers } = createReaderMonitor(opts.readers ?? 'none', events, log);
  const sessions = new SessionStore(() => policies.current().sessionTimeoutMinutes * 60_000);
  const auth = new AuthService(operators, sessions, audit, policies, opts.now);
  const dualControl = new DualControlService(auth, audit, policies);
  const cardSeries = repos.cardSeries;
  const keystore = new KeystoreHolder(keystoreLocation, { cardSeries, audit, log });
  return {
    opts,
    repos,
    log,
    events,
    audit,
    policies,
    sessions,
    operators,
    policyVersions,
    auth,
    dualControl,
    cardSeries,
    keystore,
    readers,
    monitor,
  };
}

function createRouter(core: Core, handlers: HandlersFor<typeof contract>): Router {
  const { sessions, audit, log, events } = core;
  return new Router(contract, handlers, {
    sessions,
    audit,
    log,
    operators: core.operators,
    policies: core.policies,
    ...(core.opts.now ? { now: core.opts.now } : {}),
    onSessionRevoked: (clientId, _session, reason) =>
      events.emitTo(clientId, 'session:ended', { reason: reason === 'disabled' ? 'disabled' : 'signed-out' }),
    onSessionExpired: (clientId, session) => {
      events.emitTo(clientId, 'session:ended', { reason: 'timeout' });
      // A timer's callback: nobody awaits it, so a failed entry is logged (it names no secret).
      audit
        .append({
          operatorId: session.operatorId,
          operator: session.username,
          role: session.role,
          action: 'auth.timeout',
          outcome: 'ok',
        })
        .catch((err: unknown) => log.error('audit entry not written', { action: 'auth.timeout', error: String(err) }));
    },
  });
}

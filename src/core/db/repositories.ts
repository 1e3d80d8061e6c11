import { AsyncLocalStorage } from 'node:async_hooks';
import { PgAuditStore } from '../audit/audit-store.pg';
import { PgCardRepository } from '../cards/card.repository.pg';
import { PgCustomerHistoryRepository } from '../customers/customer-history.repository.pg';
import { PgCustomerRepository } from '../customers/customer.repository.pg';
import { PgListRepository } from '../lists/list.repository.pg';
import { PgMailerPrintLogRepository } from '../mailer/mailer-print-log.repository.pg';
import { PgReissueRepository } from '../reissue/reissue.repository.pg';
import { PgSupportCaseRepository } from '../support/support-case.repository.pg';
import { PgUsageRepository } from '../usage/usage.repository.pg';
import { PgChallengeRepository } from '../verification/challenge.repository.pg';
import { PgFailureCounterRepository } from '../verification/failure.repository.pg';
import { PgVerificationEventsRepository } from '../verification/verification-events.repository.pg';
import { PgVerifyClientRepository } from '../verification/verify-client.repository.pg';
import { PgSystemStore } from '../system/system.store.pg';
import { joinedTransaction, type Isolation, type PgTransactor } from './pg/pg-database';
import type { AuditEntryInput, AuditService } from '../audit/audit.service';
import type { PgAuditTrail } from '../audit/audit-log.pg';
import { SqliteAuditStore, type AuditStore } from '../audit/audit-store';
import { SqliteCardRepository, type CardRepository } from '../cards/card.repository';
import {
  SqliteCustomerHistoryRepository,
  type CustomerHistoryRepository,
} from '../customers/customer-history.repository';
import { SqliteCustomerRepository, type CustomerRepository } from '../customers/customer.repository';
import { SqliteListRepository, type ListRepository } from '../lists/list.repository';
import { SqliteMailerPrintLogRepository, type MailerPrintLogRepository } from '../mailer/mailer-print-log.repository';
import { SqliteReissueRepository, type ReissueRepository } from '../reissue/reissue.repository';
import { SqliteSupportCaseRepository, type SupportCaseRepository } from '../support/support-case.repository';
import { SqliteUsageRepository, type UsageRepository } from '../usage/usage.repository';
import { SqliteChallengeRepository, type ChallengeRepository } from '../verification/challenge.repository';
import { SqliteFailureCounterRepository, type FailureCounterRepository } from '../verification/failure.repository';
import {
  SqliteVerificationEventsRepository,
  type VerificationEventsRepository,
} from '../verification/verification-events.repository';
import { SqliteVerifyClientRepository, type VerifyClientRepository } from '../verification/verify-client.repository';
import { SqliteSystemStore, type SystemStore } from '../system/system.store';
import type { Database } from './database';
import { SqliteCardSeriesStore, type CardSeriesStore } from '../keystore/card-series.repository';
import { PgCardSeriesStore } from '../keystore/card-series.repository.pg';
import {
  SqliteClientCertificateRepository,
  type ClientCertificateRepository,
} from '../verification/client-certificate.repository';
import { PgClientCertificateRepository } from '../verification/client-certificate.repository.pg';

/**
 * The issuer's data as the features reach it: one repository per table group, each behind its
 * async interface (docs/storage.md). The composition root makes one set for the engine it runs on —
 * the desk's SQLite file, or the branch network's PostgreSQL — and every module takes its
 * repositories from here, so no feature names an engine.
 */
export interface IssuerRepositories {
  readonly engine: 'sqlite' | 'postgres';
  readonly customers: CustomerRepository;
  readonly customerHistory: CustomerHistoryRepository;
  readonly cards: CardRepository;
  readonly lists: ListRepository;
  readonly failures: FailureCounterRepository;
  readonly verificationEvents: VerificationEventsRepository;
  readonly verifyClients: VerifyClientRepository;
  readonly challenges: ChallengeRepository;
  readonly mailerPrints: MailerPrintLogRepository;
  readonly supportCases: SupportCaseRepository;
  readonly reissues: ReissueRepository;
  readonly usage: UsageRepository;
  readonly cardSeries: CardSeriesStore;
  readonly clientCertificates: ClientCertificateRepository;
  /** The audit trail's read side and signed checkpoints (appending is Core.audit). */
  readonly auditStore: AuditStore;
  /** The dashboard's and About box's figures. */
  readonly system: SystemStore;
  /**
   * A unit of work: `work`'s changes through `tx.repos` and its entries through `tx.audit` commit
   * together or not at all (no change without its audit entry, issue 12). On PostgreSQL it is one
   * SERIALIZABLE transaction, run again from the start on a serialisation failure: `work` does
   * database work only (never card I/O, keystore calls or events; those go before or after), and
   * entries reach the live feed once, after COMMIT. On SQLite see `sqliteRepositories`. Inside a
   * unit, `atomically` (on `tx.repos` or, in the same async context, on the desk's repositories)
   * joins it: a service step that is a unit of its own can be part of a caller's unit.
   * `options.isolation` 'read committed' (PostgreSQL; SQLite has one writer) is for a unit whose
   * statements each decide on their own (an insert, a conditional UPDATE) and append entries, many
   * at once: under SERIALIZABLE every such unit conflicts on the chain head with each one that
   * committed after it began and runs again, so a burst of them (a guessing attack's refusals)
   * runs out of attempts; under READ COMMITTED the head's row lock queues them, one chain as ever.
   */
  readonly atomically: <T>(work: (tx: UnitOfWork) => Promise<T>, options?: UnitOptions) => Promise<T>;
}

/** How a unit of work runs (`IssuerRepositories.atomically`). */
export interface UnitOptions {
  readonly isolation?: Isolation;
}

/** `IssuerRepositories.atomically`, as the services that group a change with its entry take it. */
export type Atomically = IssuerRepositories['atomically'];

/** What a unit of work writes through: the repositories and the audit trail, on its transaction. */
export interface UnitOfWork {
  readonly repos: IssuerRepositories;
  readonly audit: { append(entry: AuditEntryInput): Promise<void> };
}

/**
 * The desk's SQLite file. A unit of work here runs `work` on the ordinary repositories with each
 * entry appended as it comes (right after the change it records, each in its own SQLite
 * transaction): better-sqlite3's transactions are synchronous and cannot stay open across `work`'s
 * awaits, because the desk's other calls write on the same connection meanwhile and would join (and
 * roll back with) it. A local append failing after its change is the limit left on SQLite
 * (docs/storage.md "Units of work").
 */
export function sqliteRepositories(db: Database, audit: AuditService): IssuerRepositories {
  const repos: IssuerRepositories = {
    engine: 'sqlite',
    customers: new SqliteCustomerRepository(db),
    customerHistory: new SqliteCustomerHistoryRepository(db),
    cards: new SqliteCardRepository(db),
    lists: new SqliteListRepository(db),
    failures: new SqliteFailureCounterRepository(db),
    verificationEvents: new SqliteVerificationEventsRepository(db),
    verifyClients: new SqliteVerifyClientRepository(db),
    challenges: new SqliteChallengeRepository(db),
    mailerPrints: new SqliteMailerPrintLogRepository(db),
    supportCases: new SqliteSupportCaseRepository(db),
    reissues: new SqliteReissueRepository(db),
    usage: new SqliteUsageRepository(db),
    cardSeries: new SqliteCardSeriesStore(db),
    clientCertificates: new SqliteClientCertificateRepository(db),
    auditStore: new SqliteAuditStore(db),
    system: new SqliteSystemStore(db),
    atomically: (work) => work({ repos, audit }),
  };
  return repos;
}

/**
 * The same set on the branch network's PostgreSQL (one pool shared by every repository). A unit of
 * work is one `audit.transaction` on `db`: its repositories run on the transaction (their own
 * transactions become savepoints in it), its entries are appended on it, and the rows the attempt
 * that committed appended are announced to `audit`'s listeners after COMMIT.
 */
export function pgRepositories(db: PgTransactor, audit: PgAuditTrail): IssuerRepositories {
  return pgSet(db, async (work, options) => {
    // Called from inside an open unit of work on this database (a service step that is itself a
    // unit, run within a caller's): it joins that unit, so both commit or neither does.
    const outer = openUnit.getStore();
    if (outer?.open && outer.db === db) return work(outer.unit);
    return audit.transaction(
      db,
      async (q, append) => {
        const unit: UnitOfWork = { repos: pgSet(joinedTransaction(q), (inner) => inner(unit)), audit: { append } };
        const scope = { db, unit, open: true };
        try {
          return await openUnit.run(scope, () => work(unit));
        } finally {
          scope.open = false; // a timer or callback started inside must not join a finished unit
        }
      },
      options?.isolation ?? 'serializable',
    );
  });
}

/** The unit of work open in this async context, if any (pgRepositories' nested `atomically`). */
const openUnit = new AsyncLocalStorage<{ readonly db: PgTransactor; readonly unit: UnitOfWork; open: boolean }>();

function pgSet(db: PgTransactor, atomically: Atomically): IssuerRepositories {
  return {
    engine: 'postgres',
    customers: new PgCustomerRepository(db),
    customerHistory: new PgCustomerHistoryRepository(db),
    cards: new PgCardRepository(db),
    lists: new PgListRepository(db),
    failures: new PgFailureCounterRepository(db),
    verificationEvents: new PgVerificationEventsRepository(db),
    verifyClients: new PgVerifyClientRepository(db),
    challenges: new PgChallengeRepository(db),
    mailerPrints: new PgMailerPrintLogRepository(db),
    supportCases: new PgSupportCaseRepository(db),
    reissues: new PgReissueRepository(db),
    usage: new PgUsageRepository(db),
    cardSeries: new PgCardSeriesStore(db),
    clientCertificates: new PgClientCertificateRepository(db),
    auditStore: new PgAuditStore(db),
    system: new PgSystemStore(db),
    atomically,
  };
}

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
import type { PgDatabase } from './pg/pg-database';
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
}

export function sqliteRepositories(db: Database): IssuerRepositories {
  return {
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
  };
}

/** The same set on the branch network's PostgreSQL (one pool shared by every repository). */
export function pgRepositories(db: PgDatabase): IssuerRepositories {
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
  };
}

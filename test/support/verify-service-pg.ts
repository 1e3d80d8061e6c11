import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCardRepository } from '../../src/core/cards/card.repository.pg';
import { PgCustomerRepository } from '../../src/core/customers/customer.repository.pg';
import type { VerifyScope } from '../../src/core/verification/verify-client.repository';
import { SERVICE_ACTOR } from '../../src/verify-service/service-core';
import { openPgVerificationCore, type PgVerificationCore } from '../../src/verify-service/service-core.pg';
import { PgAuditLog, PgAuditTrail } from '../../src/core/audit/audit-log.pg';
import type { PgDatabase, PgQueryable } from '../../src/core/db/pg/pg-database';
import type { IssuerRepositories } from '../../src/core/db/repositories';
import { PgPolicySource } from '../../src/core/policy/policy-source.pg';
import { PgDecisionStore } from '../../src/core/verification/verification-store.pg';
import { VerificationService } from '../../src/core/verification/verification.service';
import { KEYSTORE_PASSPHRASE } from './keys';
import { cardWithCodes, type Desk } from './verify-service';

// The verification service on PostgreSQL, for tests and the bench (issue 12): a desk's keystore (a
// SQLite desk made by deskWithKeystore: the desk on PostgreSQL is another change's) copied to a data
// directory per instance, and cards with active lists made on the shared database through the real
// ListService and keystore, composed as the PostgreSQL service composes them. The database must be
// migrated (migratePg) first: the service never makes the schema.

export interface PgIssuer {
  /** A service core in this process, on the database (its lists and keystore seed the cards). */
  readonly core: PgVerificationCore;
  /** A new data directory holding a copy of the desk's keystore, for one more instance. */
  instanceDir(): string;
  /** One more service core in this process on the same database (another instance), closed with the rest. */
  instance(): Promise<PgVerificationCore>;
  cardWithCodes(): ReturnType<typeof cardWithCodes>;
  clientKey(...scopes: VerifyScope[]): Promise<string>;
  close(): Promise<void>;
}

export async function pgIssuer(desk: Desk, databaseUrl: string): Promise<PgIssuer> {
  const dirs: string[] = [];
  const instanceDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'otac-verify-pg-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'keystore'), { recursive: true, mode: 0o700 });
    copyFileSync(join(desk.dataDir, 'keystore', 'keystore.otacks'), join(dir, 'keystore', 'keystore.otacks'));
    return dir;
  };
  const cores: PgVerificationCore[] = [];
  const instance = async () => {
    const dir = instanceDir();
    const opened = await openPgVerificationCore({
      dataDir: dir,
      keystore: { backend: 'software', file: join(dir, 'keystore', 'keystore.otacks') },
      databaseUrl,
    });
    cores.push(opened);
    await opened.keystore.unlock(KEYSTORE_PASSPHRASE, SERVICE_ACTOR);
    return opened;
  };
  const core = await instance();
  const rows = { customers: new PgCustomerRepository(core.db), cards: new PgCardRepository(core.db) };
  return {
    core,
    instanceDir,
    instance,
    cardWithCodes: () => cardWithCodes({ db: rows, lists: core.lists, keystore: core.keystore }),
    clientKey: async (...scopes) => (await core.clients.create({ name: 'bank', scopes, by: 'test' })).apiKey,
    close: async () => {
      for (const c of cores) await c.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/**
 * A VerificationService as the PostgreSQL service composes it (lockout of 5, refusals recorded), its
 * policies and decision store on `q` — `db` itself or a wrapper that records or counts what it runs.
 */
export function verificationOn(
  issuer: PgIssuer,
  repos: IssuerRepositories,
  db: PgDatabase,
  q: PgQueryable,
): VerificationService {
  const policies = new PgPolicySource(q);
  return new VerificationService(
    repos.cards,
    repos.lists,
    issuer.core.lists,
    issuer.core.keystore,
    new PgAuditTrail(new PgAuditLog(db)),
    policies,
    {
      lockout: { failures: repos.failures, limit: 5 },
      events: repos.verificationEvents,
      store: new PgDecisionStore(q, policies),
    },
  );
}

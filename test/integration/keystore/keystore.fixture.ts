import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../../src/core/db/database';
import { migration0003 } from '../../../src/core/db/migrations/0003-keystore.migration';
import { createLogger } from '../../../src/core/log';
import { SqliteCardSeriesStore } from '../../../src/core/keystore/card-series.repository';
import { openKeystore, type KeystoreConfig } from '../../../src/core/keystore/create-keystore';
import { kcvAes, xorComponents } from '../../../src/core/crypto/kcv';
import { PassphraseKekProvider } from '../../../src/core/keystore/kek-provider';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import type { CeremonyCustodian } from '../../../src/core/keystore/keystore.types';

export type BackendName = 'software' | 'pkcs11';
export const BACKENDS: BackendName[] = ['software', 'pkcs11'];
export const SOFTHSM_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';
export const PASSPHRASE = 'correct horse battery staple';
/** Cheap scrypt for tests; production uses DEFAULT_SCRYPT_COST. */
export const TEST_COST = { N: 2 ** 12, r: 8, p: 1 };

/** Ceremony custodian n, as the Keys channel would pass them after checking their credentials. */
export const custodian = (n: number): CeremonyCustodian => ({
  operatorId: 100 + n,
  username: `custodian${n}`,
  role: 'security_officer',
  temporaryPassword: false,
});

export interface AuditRecord {
  action: string;
  details: Record<string, string | number | boolean>;
}

export interface KeystoreFixture {
  readonly dir: string;
  readonly db: Database;
  readonly dbFile: string;
  readonly logFile: string;
  readonly keystoreFile: string;
  readonly audit: AuditRecord[];
  config(overrides?: { passphrase?: string; pin?: string; createIfMissing?: boolean }): KeystoreConfig;
  open(overrides?: { passphrase?: string; pin?: string; createIfMissing?: boolean }): Promise<KeystoreService>;
  dispose(): void;
}

/** A fresh data directory, SQLite file with migration 3 and, for PKCS#11, a fresh SoftHSM token. */
export function createKeystoreFixture(backend: BackendName): KeystoreFixture {
  const dir = mkdtempSync(join(tmpdir(), `otac-keystore-${backend}-`));
  const dbFile = join(dir, 'workstation.db');
  const db = openDatabase(dbFile, []);
  db.transaction(() => migration0003.up(db))();
  const logFile = join(dir, 'logs', 'keystore.log');
  const log = createLogger(logFile);
  const audit: AuditRecord[] = [];
  const keystoreFile = join(dir, 'keystore.otacks');
  const tokenLabel = `otac-${randomBytes(4).toString('hex')}`;
  if (backend === 'pkcs11') initSoftHsmToken(dir, tokenLabel);
  const cardSeries = new SqliteCardSeriesStore(db);

  const config: KeystoreFixture['config'] = (o = {}) =>
    backend === 'software'
      ? {
          backend: 'software',
          file: keystoreFile,
          kek: new PassphraseKekProvider(o.passphrase ?? PASSPHRASE, TEST_COST),
          createIfMissing: o.createIfMissing ?? true,
          backupKek: (p) => new PassphraseKekProvider(p, TEST_COST),
        }
      : { backend: 'pkcs11', library: SOFTHSM_LIBRARY, tokenLabel, pin: o.pin ?? '246810' };

  return {
    dir,
    db,
    dbFile,
    logFile,
    keystoreFile,
    audit,
    config,
    open: (o) =>
      openKeystore(config(o), {
        cardSeries,
        log,
        audit: (action, details) => audit.push({ action, details: { ...details } }),
      }),
    dispose: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * SoftHSM reads SOFTHSM2_CONF at C_Initialize; the keystore finalizes the library when its
 * last user closes, so each suite can point it at its own token directory.
 */
function initSoftHsmToken(dir: string, label: string): void {
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--so-pin', '13579111', '--pin', '246810'],
    {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: 'pipe',
    },
  );
}

export function readText(file: string): string {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return '';
  }
}

/**
 * Opens the fixture's keystore with a master key made of `components` (each entered by its own
 * custodian, checked against the XOR's KCV), then a bank CA and issuer key named after `name`.
 */
export async function openIssuerKeystore(
  fx: KeystoreFixture,
  components: readonly Buffer[],
  name: string,
): Promise<KeystoreService> {
  const ks = await fx.open();
  ks.ceremony.begin({ components: 2, officer: 'sofia' });
  components.forEach((c, i) => ks.ceremony.enterComponent(i + 1, c.toString('hex'), { custodian: custodian(i + 1) }));
  await ks.ceremony.finish({ expectedKcv: kcvAes(xorComponents(components)) });
  await ks.createBankCa({ commonName: `${name} CA`, officer: 'sofia' });
  await ks.createIssuerKey({ commonName: `${name} Issuer`, officer: 'sofia' });
  return ks;
}

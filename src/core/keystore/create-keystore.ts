import { dirname, join } from 'node:path';
import type { Logger } from '../log';
import type { CardSeriesStore } from './card-series.repository';
import type { KekProvider } from './kek-provider';
import type { AuditSink } from './keystore.types';
import { KeystoreService } from './keystore.service';
import { Pkcs11Backend, type Pkcs11BackendOptions } from './pkcs11.backend';
import { SoftwareBackend } from './software.backend';

/** Keystore configuration: the embedded file (default) or a PKCS#11 token. */
export type KeystoreConfig =
  | {
      readonly backend: 'software';
      readonly file: string;
      readonly kek: KekProvider;
      readonly createIfMissing: boolean;
      readonly backupKek?: (passphrase: string) => KekProvider;
    }
  | ({ readonly backend: 'pkcs11' } & Pkcs11BackendOptions);

export interface KeystoreDeps {
  readonly cardSeries: CardSeriesStore;
  readonly audit: AuditSink;
  readonly log?: Logger;
  readonly now?: () => Date;
}

export function openKeystore(config: KeystoreConfig, deps: KeystoreDeps): Promise<KeystoreService> {
  const backend =
    config.backend === 'software'
      ? new SoftwareBackend({
          file: config.file,
          kek: config.kek,
          createIfMissing: config.createIfMissing,
          ...(config.backupKek ? { backupKek: config.backupKek } : {}),
        })
      : new Pkcs11Backend({ library: config.library, tokenLabel: config.tokenLabel, pin: config.pin });
  // The software keystore's backups live beside it (<dataDir>/keystore/backups, keystore-backup.service.ts).
  const backupDir = config.backend === 'software' ? join(dirname(config.file), 'backups') : undefined;
  return KeystoreService.open({ backend, ...deps, ...(backupDir ? { backupDir } : {}) });
}

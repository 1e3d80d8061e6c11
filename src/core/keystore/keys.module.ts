import { join } from 'node:path';
import type { Core, FeatureModule } from '../feature-module';
import { keysHandlers } from './keys.ipc';
import { KeystoreBackups } from './keystore-backup.service';

/** The Keys page: keystore life cycle, ceremony, card key state, backups. */
export function keysModule(core: Core): FeatureModule<ReturnType<typeof keysHandlers>> {
  const { keystore, dualControl, auth, cardSeries, events } = core;
  const backups = new KeystoreBackups(join(core.opts.dataDir, 'keystore', 'backups'), keystore);
  return {
    handlers: keysHandlers({ keystore, dualControl, auth, cardSeries, backups, events }),
    close: async () => {
      await keystore.lock(null);
    },
  };
}

import type { Core, FeatureModule } from '../feature-module';
import { AuditCheckpointService } from './audit-checkpoint.service';
import { auditHandlers } from './audit.ipc';
import { fixedAuditTrust, keystoreAuditSigner, keystoreAuditTrust } from './keystore-audit-signer';

/**
 * The audit trail's query, export and verification, and its signed checkpoints. The keystore's
 * audit key signs them; while it is locked they wait for the unlock (docs/audit.md).
 */
export function auditModule(
  core: Core,
): FeatureModule<ReturnType<typeof auditHandlers>> & { readonly checkpoints: AuditCheckpointService } {
  const { audit, keystore, policies, log } = core;
  const store = core.repos.auditStore;
  const fixedSigner = core.opts.auditSigner;
  const signer = fixedSigner ? async () => fixedSigner : keystoreAuditSigner(() => keystore.currentOrNull());
  const checkpoints = new AuditCheckpointService(
    store,
    audit,
    signer,
    () => policies.current().auditCheckpointEvery,
    log,
  );
  const trust = fixedSigner ? fixedAuditTrust(fixedSigner) : keystoreAuditTrust(() => keystore.currentOrNull());
  return {
    checkpoints,
    handlers: auditHandlers({ store, audit, checkpoints, trust }),
    start: () => {
      const stop = checkpoints.start();
      keystore.onUnlocked(() => void checkpoints.signDue());
      return async () => {
        stop();
        await checkpoints.idle();
      };
    },
  };
}

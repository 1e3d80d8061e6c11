import type { keysChannels } from '../../shared/contract/keys.contract';
import { AttemptThrottle, KEYSTORE_UNLOCK_THROTTLE } from '../auth/attempt-throttle';
import type { Session } from '../auth/session.store';
import type { Approver, DualControlService } from '../dual-control/dual-control.service';
import type { AuthService } from '../auth/auth.service';
import { AppError, isAppError } from '../errors';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { CardSeriesStore } from './card-series.repository';
import type { KeystoreBackups } from './keystore-backup.service';
import type { KeystoreActor, KeystoreHolder, KeystoreHolderStatus } from './keystore-holder.service';
import type { CeremonyCustodian, CeremonyProgress } from './keystore.types';
import { noTransportKey } from './card-profile-keys.service';

export interface KeysHandlerDeps {
  readonly keystore: KeystoreHolder;
  readonly dualControl: DualControlService;
  /** Checks a ceremony custodian's own credentials (counted toward their lockout like a sign-in). */
  readonly auth: Pick<AuthService, 'verifyCredentials'>;
  /** Read first, so looking up a mistyped N answers "unknown" instead of issuing a series for it. */
  readonly cardSeries: CardSeriesStore;
  readonly backups: KeystoreBackups;
  readonly events?: EventBus;
}

const actorOf = (s: Session, approver?: Approver | null): KeystoreActor => ({
  operatorId: s.operatorId,
  operator: s.username,
  role: s.role,
  ...(approver ? { approvedBy: approver.username } : {}),
});

/** The status as the contract shows it (the domain's ceremony flag is folded into `ceremony`). */
const view = (s: KeystoreHolderStatus) => ({
  state: s.state,
  backend: s.backend,
  masterKey: s.masterKey,
  issuerKey: s.issuerKey,
  bankCa: s.bankCa,
  transportKey: s.transportKey,
  ceremony: progressView(s.ceremony),
  transportCeremony: progressView(s.transportCeremony),
});

const progressView = (p: CeremonyProgress | null) => (p ? { components: p.components, entered: [...p.entered] } : null);

export function keysHandlers(deps: KeysHandlerDeps): HandlersFor<typeof keysChannels> {
  const { keystore, dualControl, backups } = deps;
  const unlockThrottle = new AttemptThrottle(KEYSTORE_UNLOCK_THROTTLE);
  // Every window showing keys or the desk status refetches.
  const changed = <T>(value: T): T => {
    deps.events?.emit('data:changed', { domains: ['keys'] });
    return value;
  };
  const knownCard = async (n: string): Promise<string> => {
    keystore.current(); // locked is the more useful answer than unknown
    if (!(await deps.cardSeries.get(n))) {
      throw new AppError(
        'CARD_KEY_UNKNOWN',
        `No card key has been issued for ${n}. Check the identification code on the card.`,
      );
    }
    return n;
  };

  /** Who typed these credentials: verified like an approval, so a wrong password counts toward their lockout. */
  const custodianOf = async (
    c: { username: string; password: string },
    index: number,
    action: 'keys.ceremony.custodian' | 'keys.transport_ceremony.custodian' = 'keys.ceremony.custodian',
  ): Promise<CeremonyCustodian> => {
    try {
      const op = await deps.auth.verifyCredentials(c.username, c.password, { action, details: { index } });
      return {
        operatorId: op.id,
        username: op.username,
        role: op.role,
        temporaryPassword: op.must_change_password !== 0,
      };
    } catch (err) {
      if (!isAppError(err)) throw err;
      switch (err.code) {
        case 'AUTH_LOCKED':
          throw new AppError(
            'CEREMONY_CUSTODIAN_LOCKED',
            "The custodian's account is locked. Unlock it first or ask another custodian; nothing was kept.",
          );
        case 'AUTH_DISABLED':
          throw new AppError(
            'CEREMONY_CUSTODIAN_DISABLED',
            "The custodian's account is disabled. Ask another custodian; nothing was kept.",
          );
        case 'AUTH_FAILED': {
          const left = err.details?.attemptsLeft;
          const warning =
            typeof left === 'number' ? ` ${left} attempt${left === 1 ? '' : 's'} left before that account locks.` : '';
          throw new AppError(
            'CEREMONY_CUSTODIAN_FAILED',
            `The custodian's user name or password is wrong; nothing was kept.${warning}`,
          );
        }
        default:
          throw err;
      }
    }
  };

  return {
    'keys:status': async () => view(await keystore.status()),
    'keys:create': async (input, ctx) => changed(view(await keystore.create(input.passphrase, actorOf(ctx.session)))),
    'keys:unlock': async (input, ctx) => {
      if (!unlockThrottle.admit(['keystore']).ok) {
        throw new AppError('KEYSTORE_THROTTLED', 'Too many unlock attempts in a row. Wait a minute, then try again.');
      }
      const status = await keystore.unlock(input.passphrase, actorOf(ctx.session));
      unlockThrottle.succeeded(['keystore']);
      return changed(view(status));
    },
    'keys:lock': async (_input, ctx) => changed(view(await keystore.lock(actorOf(ctx.session)))),
    'keys:list': async () => ({ keys: await keystore.current().listKeys() }),

    'keys:ceremonyBegin': async (input, ctx) => {
      keystore.current();
      const approver = await dualControl.require('keys.ceremony', ctx.session, input.approval, input);
      const p = keystore.run(actorOf(ctx.session, approver), (ks) =>
        ks.ceremony.begin({ components: input.components, officer: ctx.session.username }),
      );
      return changed({ components: p.components, entered: [...p.entered] });
    },
    // The desk's session drives the wizard; the component belongs to whoever typed their credentials with it.
    'keys:ceremonyEnterComponent': async (input, ctx) => {
      keystore.current().ceremony.checkIndex(input.index);
      const custodian = await custodianOf(input.custodian, input.index);
      return changed(
        keystore.run(actorOf(ctx.session), (ks) =>
          ks.ceremony.enterComponent(input.index, input.component, {
            custodian,
            ...(input.expectedKcv ? { expectedKcv: input.expectedKcv } : {}),
          }),
        ),
      );
    },
    'keys:ceremonyFinish': async (input, ctx) =>
      changed(
        await keystore.run(actorOf(ctx.session), (ks) =>
          ks.ceremony.finish(input.expectedKcv ? { expectedKcv: input.expectedKcv } : {}),
        ),
      ),
    'keys:ceremonyAbort': (_input, ctx) => {
      keystore.run(actorOf(ctx.session), (ks) => ks.ceremony.abort());
      return changed({ done: true as const });
    },
    'keys:ceremonyProgress': () => {
      const p = keystore.current().ceremony.progress();
      return { ceremony: progressView(p) };
    },

    // The vendor transport key: the master-key ceremony's steps on its own ceremony, its begin and its
    // removal under the mandatory keys.ceremony dual control, the approver carried to the import.
    'keys:transportBegin': async (input, ctx) => {
      // A running import is refused before a second officer is asked (begin checks again, synchronously).
      keystore.current().transportCeremony.checkBegin();
      const approver = await dualControl.require('keys.ceremony', ctx.session, input.approval, input);
      if (!approver) throw transportNeedsApprover();
      const p = keystore.run(actorOf(ctx.session, approver), (k) =>
        k.transportCeremony.begin({
          components: input.components,
          officer: ctx.session.username,
          approver: approver.username,
        }),
      );
      return changed({ components: p.components, entered: [...p.entered] });
    },
    'keys:transportEnterComponent': async (input, ctx) => {
      keystore.current().transportCeremony.checkIndex(input.index);
      const custodian = await custodianOf(input.custodian, input.index, 'keys.transport_ceremony.custodian');
      return changed(
        keystore.run(actorOf(ctx.session), (ks) =>
          ks.transportCeremony.enterComponent(input.index, input.component, {
            custodian,
            ...(input.expectedKcv ? { expectedKcv: input.expectedKcv } : {}),
          }),
        ),
      );
    },
    'keys:transportFinish': async (input, ctx) =>
      changed(
        await keystore.run(actorOf(ctx.session), (ks) =>
          ks.transportCeremony.finish({ expectedKcv: input.expectedKcv }),
        ),
      ),
    'keys:transportAbort': (_input, ctx) => {
      keystore.run(actorOf(ctx.session), (ks) => ks.transportCeremony.abort());
      return changed({ done: true as const });
    },
    'keys:transportRemove': async (input, ctx) => {
      // Nothing to remove is said before a second officer is asked.
      if (!(await keystore.current().status()).transportKey) throw noTransportKey();
      const approver = await dualControl.require('keys.ceremony', ctx.session, input.approval, input);
      if (!approver) throw transportNeedsApprover();
      return changed(
        await keystore.run(actorOf(ctx.session, approver), (ks) =>
          ks.removeTransportMasterKey({
            officer: ctx.session.username,
            approver: approver.username,
            reason: input.reason,
          }),
        ),
      );
    },

    'keys:generateMasterKey': async (input, ctx) => {
      keystore.current();
      const approver = await dualControl.require('keys.ceremony', ctx.session, input.approval, input);
      return changed(
        await keystore.run(actorOf(ctx.session, approver), (ks) =>
          ks.generateMasterKey({ officer: ctx.session.username }),
        ),
      );
    },
    'keys:createIssuerKey': async (input, ctx) =>
      changed(
        await keystore.run(actorOf(ctx.session), (ks) =>
          ks.createIssuerKey({ commonName: input.commonName, officer: ctx.session.username }),
        ),
      ),
    'keys:createBankCa': async (input, ctx) =>
      changed(
        await keystore.run(actorOf(ctx.session), (ks) =>
          ks.createBankCa({ commonName: input.commonName, officer: ctx.session.username }),
        ),
      ),
    'keys:issuerCertificate': async () => ({ pem: await keystore.current().issuerCertificatePem() }),

    'keys:cardKeyState': async (input) => keystore.current().cardKeyState(await knownCard(input.n)),
    'keys:retireCardKey': async (input, ctx) =>
      changed(
        await keystore.run(actorOf(ctx.session), async (ks) =>
          ks.retireCardKey(await knownCard(input.n), { reason: input.reason, operator: ctx.session.username }),
        ),
      ),

    // Refusals that need no second person (locked, HSM, unknown backup) come before the approval.
    'keys:backupList': () => ({ backups: backups.list() }),
    // The officer and the approver are the backup's two custodians, each with their own passphrase.
    'keys:backupCreate': async (input, ctx) => {
      backups.checkCreate();
      const approver = await dualControl.require('keys.backup', ctx.session, input.approval, input);
      // keys.backup is mandatory dual control; without an approver there is no second custodian either.
      if (!approver || input.approverPassphrase === undefined) {
        throw new AppError(
          'APPROVAL_REQUIRED',
          'A backup needs a second security officer, who approves here and types a backup passphrase of their own.',
        );
      }
      const custodians = [
        { operator: ctx.session.username, passphrase: input.passphrase },
        { operator: approver.username, passphrase: input.approverPassphrase },
      ] as const;
      return changed(await backups.create(custodians, actorOf(ctx.session, approver)));
    },
    'keys:backupRestore': async (input, ctx) => {
      await backups.checkRestore(input.fileName);
      const approver = await dualControl.require('keys.restore', ctx.session, input.approval, input);
      return changed(await backups.restore(input.fileName, input.custodianPassphrases, actorOf(ctx.session, approver)));
    },
  };
}

/** keys.ceremony is mandatory dual control; the keystore would refuse an import without a second officer anyway. */
function transportNeedsApprover(): AppError {
  return new AppError(
    'APPROVAL_REQUIRED',
    'The vendor transport key is loaded and removed by two security officers: a second officer approves here.',
  );
}

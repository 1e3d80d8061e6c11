import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SYSTEM_ACTOR, type AuditActor, type AuditTrail } from '../audit/audit.service';
import { AppError } from '../errors';
import type { Logger } from '../log';
import { makePrivateDir } from '../private-files';
import type { CardSeriesStore } from './card-series.repository';
import { openKeystore, type KeystoreConfig } from './create-keystore';
import { DEFAULT_SCRYPT_COST, PassphraseKekProvider, type ScryptCost } from './kek-provider';
import type { KeystoreService } from './keystore.service';
import type { BackendKind, CeremonyProgress, Keystore, KeystoreStatus } from './keystore.types';

/** Where the keystore lives. The PIN or passphrase is never configured: an officer types it at unlock. */
export type KeystoreLocation =
  | { readonly backend: 'software'; readonly file: string; readonly scryptCost?: ScryptCost }
  | { readonly backend: 'pkcs11'; readonly library: string; readonly tokenLabel: string };

export type KeystoreState = 'not-created' | 'locked' | 'unlocked';

export interface KeystoreHolderStatus extends KeystoreStatus {
  readonly state: KeystoreState;
  readonly ceremony: CeremonyProgress | null;
  /** The vendor transport key ceremony in progress, if any (its own, beside the master-key one). */
  readonly transportCeremony: CeremonyProgress | null;
}

/** Who is acting, for the audit entries the keystore writes during the call. */
export interface KeystoreActor extends AuditActor {
  readonly operator: string;
  /** The second operator who approved the action under dual control. */
  readonly approvedBy?: string;
}

export const MIN_PASSPHRASE = 12;

/** The embedded software file under the data directory, or a PKCS#11 token named by OTAC_KEYSTORE=pkcs11. */
export function keystoreLocationFromEnv(env: NodeJS.ProcessEnv, dataDir: string): KeystoreLocation {
  const kind = env['OTAC_KEYSTORE'] ?? 'software';
  if (kind === 'software') return { backend: 'software', file: join(dataDir, 'keystore', 'keystore.otacks') };
  if (kind === 'pkcs11') {
    const library = env['OTAC_PKCS11_MODULE'];
    const tokenLabel = env['OTAC_PKCS11_TOKEN_LABEL'];
    if (!library || !tokenLabel) {
      throw new AppError(
        'KEYSTORE_CONFIG',
        'OTAC_KEYSTORE=pkcs11 needs OTAC_PKCS11_MODULE (the PKCS#11 library) and OTAC_PKCS11_TOKEN_LABEL.',
      );
    }
    return { backend: 'pkcs11', library, tokenLabel };
  }
  throw new AppError('KEYSTORE_CONFIG', `OTAC_KEYSTORE must be "software" or "pkcs11", not "${kind.slice(0, 20)}".`);
}

// Keystore audit actions that record a refusal rather than a change.
const FAILED_ACTIONS = new Set([
  'keystore.open_failed',
  'keystore.ceremony.component_rejected',
  'keystore.ceremony.master_key_rejected',
  'keystore.backup.restore_failed',
  'keystore.audit_checkpoint.refused',
  'keystore.backup.refused',
  'keystore.card_key.export_refused',
  'keystore.transport_key.import_refused',
  'keystore.transport_key.remove_refused',
  'keystore.transport_ceremony.component_rejected',
  'keystore.backup.path_refused',
]);

/**
 * Owns the keystore's open/locked state for the workstation. Start-up opens nothing; a security
 * officer creates or unlocks it on the Keys page, and everything that needs keys asks `current()`.
 */
export class KeystoreHolder {
  private ks: KeystoreService | null = null;
  private opening = false;
  private readonly actor = new AsyncLocalStorage<KeystoreActor>();
  private readonly unlockListeners = new Set<() => void>();
  /** Entries the synchronous sink started that the database has not committed yet (PostgreSQL): lock() waits for them. */
  private readonly unwritten = new Set<Promise<void>>();

  constructor(
    private readonly location: KeystoreLocation,
    private readonly deps: { readonly cardSeries: CardSeriesStore; readonly audit: AuditTrail; readonly log: Logger },
  ) {}

  get backend(): BackendKind {
    return this.location.backend;
  }

  async status(): Promise<KeystoreHolderStatus> {
    if (!this.ks) {
      const missing = this.location.backend === 'software' && !existsSync(this.location.file);
      return {
        state: missing ? 'not-created' : 'locked',
        backend: this.backend,
        masterKey: null,
        issuerKey: null,
        bankCa: null,
        transportKey: null,
        ceremonyInProgress: false,
        ceremony: null,
        transportCeremony: null,
      };
    }
    return {
      state: 'unlocked',
      ...(await this.ks.status()),
      ceremony: this.ks.ceremony.progress(),
      transportCeremony: this.ks.transportCeremony.progress(),
    };
  }

  /** A new, empty keystore file under `passphrase`, left unlocked. Software backend only. */
  async create(passphrase: string, actor: KeystoreActor): Promise<KeystoreHolderStatus> {
    const loc = this.location;
    if (loc.backend !== 'software') {
      throw new AppError(
        'KEYSTORE_CREATE_UNSUPPORTED',
        "This desk uses an HSM token: initialise it with the vendor's tools, then unlock it here with its PIN.",
      );
    }
    if (this.ks || existsSync(loc.file))
      throw new AppError('KEYSTORE_EXISTS', 'This desk already has a keystore. Unlock it with its passphrase.');
    if (passphrase.length < MIN_PASSPHRASE) {
      throw new AppError(
        'KEYSTORE_PASSPHRASE_WEAK',
        `The keystore passphrase needs at least ${MIN_PASSPHRASE} characters. Choose a longer one.`,
      );
    }
    makePrivateDir(dirname(loc.file));
    await this.open(passphrase, actor, true);
    this.sink(actor)('keystore.created', { backend: loc.backend, officer: actor.operator });
    return this.status();
  }

  /** Opens the keystore with its passphrase (software) or the token PIN (PKCS#11). A refused secret changes nothing. */
  async unlock(secret: string, actor: KeystoreActor): Promise<KeystoreHolderStatus> {
    if (this.ks) throw new AppError('KEYSTORE_ALREADY_UNLOCKED', 'The keystore is already unlocked.');
    if (this.location.backend === 'software' && !existsSync(this.location.file)) {
      throw new AppError(
        'KEYSTORE_NOT_CREATED',
        'This desk has no keystore yet. A security officer creates one on the Keys page.',
      );
    }
    // The KEK provider refuses very short passphrases as weak; at unlock that is simply a wrong one.
    if (this.location.backend === 'software' && secret.length < 8) {
      this.sink(actor)('keystore.open_failed', { backend: 'software', code: 'KEYSTORE_WRONG_PASSPHRASE' });
      throw new AppError(
        'KEYSTORE_WRONG_PASSPHRASE',
        'The passphrase does not open the keystore. Check it and try again; nothing was changed.',
      );
    }
    await this.open(secret, actor, false);
    return this.status();
  }

  /** Closes the keystore: key material leaves memory and an unfinished ceremony is aborted (both audited). */
  async lock(actor: KeystoreActor | null): Promise<KeystoreHolderStatus> {
    const ks = this.ks;
    this.ks = null;
    if (ks && actor) await this.actor.run(actor, () => ks.close());
    else if (ks) await ks.close();
    // The closing's own entries (and any still on their way) are in the trail before the lock is
    // answered and before a closing desk closes its database — else PostgreSQL loses them at shut-down.
    await Promise.all([...this.unwritten]);
    return this.status();
  }

  /** The open keystore, or KEYSTORE_LOCKED. */
  current(): Keystore {
    if (!this.ks) {
      throw new AppError(
        'KEYSTORE_LOCKED',
        'The keystore is locked. A security officer must unlock it on the Keys page.',
      );
    }
    return this.ks;
  }

  /** The open keystore, or null while it is locked — for callers that wait rather than fail (audit checkpoints). */
  currentOrNull(): Keystore | null {
    return this.ks;
  }

  /** Calls `listener` each time the keystore is created or unlocked. A listener must not throw. */
  onUnlocked(listener: () => void): () => void {
    this.unlockListeners.add(listener);
    return () => this.unlockListeners.delete(listener);
  }

  /** Runs `fn` on the open keystore with `actor` named in every audit entry it writes. */
  run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T {
    const ks = this.current();
    return this.actor.run(actor, () => fn(ks));
  }

  private async open(secret: string, actor: KeystoreActor, create: boolean): Promise<void> {
    if (this.opening) throw new AppError('KEYSTORE_BUSY', 'The keystore is being opened already. Wait a moment.');
    this.opening = true;
    try {
      const ks = await this.actor.run(actor, () =>
        openKeystore(this.config(secret, create), {
          cardSeries: this.deps.cardSeries,
          audit: this.sink(null),
          log: this.deps.log,
        }),
      );
      this.ks = ks;
    } finally {
      this.opening = false;
    }
    for (const listener of this.unlockListeners) listener();
  }

  private config(secret: string, create: boolean): KeystoreConfig {
    const loc = this.location;
    if (loc.backend === 'pkcs11')
      return { backend: 'pkcs11', library: loc.library, tokenLabel: loc.tokenLabel, pin: secret };
    const cost = loc.scryptCost ?? DEFAULT_SCRYPT_COST;
    return {
      backend: 'software',
      file: loc.file,
      kek: new PassphraseKekProvider(secret, cost),
      createIfMissing: create,
      backupKek: (p) => new PassphraseKekProvider(p, cost),
    };
  }

  /** The keystore's audit sink: into the workstation's audit chain, naming the acting officer. */
  private sink(fixed: KeystoreActor | null) {
    return (action: string, details: Readonly<Record<string, string | number | boolean>>) => {
      const who: AuditActor & { approvedBy?: string } = fixed ?? this.actor.getStore() ?? SYSTEM_ACTOR;
      const extra: Record<string, string> = who.approvedBy ? { approvedBy: who.approvedBy } : {};
      // The keystore's sink is synchronous (its services record as they act). On SQLite the entry
      // is written before append returns; on PostgreSQL it commits moments later, and a failure is
      // logged (no secret is in an entry) — docs/storage.md "The audit trail on either engine".
      const entry: Promise<void> = this.deps.audit
        .append({
          operatorId: who.operatorId,
          operator: who.operator,
          role: who.role,
          action,
          object: typeof details['n'] === 'string' ? details['n'] : null,
          outcome: FAILED_ACTIONS.has(action) ? 'failed' : 'ok',
          details: { ...details, ...extra },
        })
        .catch((err: unknown) => this.deps.log.error('audit entry not written', { action, error: String(err) }))
        .finally(() => this.unwritten.delete(entry));
      this.unwritten.add(entry);
    };
  }
}

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AppError, isAppError } from '../errors';
import type { Logger } from '../log';
import { writeFileAtomic } from '../atomic-file';
import { AuditKeyService } from './audit-key.service';
import { CardKeyService } from './card-key.service';
import { CardProfileKeyService } from './card-profile-keys.service';
import type { CardSeriesStore } from './card-series.repository';
import { sameCustodian } from './backup-file.codec';
import { CeremonyService, TRANSPORT_KEY_CEREMONY } from './ceremony.service';
import { IssuerKeyService } from './issuer-key.service';
import { ListCodeService } from './list-code.service';
import { passkeyTag } from './passkey-tag';
import { decodeListBody } from '../card/protocol/list-format';
import type { KeystoreBackend } from './keystore-backend';
import type {
  AuditKeyPublic,
  AuditSink,
  BackupCustodians,
  CaPublicKey,
  ClientCertificate,
  CardKeyActor,
  CardKeyHandle,
  CardKeyRotation,
  CardKeyState,
  CodeListRef,
  EmergencySheet,
  EmergencySheetActor,
  EmergencySheetRequest,
  CodeListRequest,
  CodeListTarget,
  EphemeralHandle,
  IssuedCodeList,
  IssuerCardCredential,
  KeyInfo,
  Keystore,
  KeystoreStatus,
  MailerKey,
  MailerKeyRequest,
  ReceiptKeyHandle,
  SecureSessionHandle,
  SmCommandHeader,
  SmCommandPart,
  TransportKeyHandle,
  TransportKeyInfo,
} from './keystore.types';
import { aesKcv, KeyRegistry, toInfo } from './key-registry';
import type { AuditAnchor, AuditChainEntry, AuditCheckpointToSign, SignedAuditCheckpoint } from './keystore.types';

export interface KeystoreServiceOptions {
  readonly backend: KeystoreBackend;
  readonly cardSeries: CardSeriesStore;
  readonly audit: AuditSink;
  readonly log?: Logger;
  readonly now?: () => Date;
  readonly cardKeyCacheSize?: number;
  /** The only folder backupTo/restoreFrom accept files in (`<keystore dir>/backups`); none: every path is refused. */
  readonly backupDir?: string;
}

/** The Keystore over either backend: policy, metadata and audit live here, crypto in the backend. */
export class KeystoreService implements Keystore {
  readonly ceremony: CeremonyService;
  readonly transportCeremony: CeremonyService<TransportKeyInfo>;
  private readonly registry: KeyRegistry;
  private readonly cards: CardKeyService;
  private readonly profile: CardProfileKeyService;
  private readonly issuer: IssuerKeyService;
  private readonly auditKey: AuditKeyService;
  private readonly lists: ListCodeService;
  private readonly audit: AuditSink;

  private constructor(private readonly opts: KeystoreServiceOptions) {
    const now = opts.now ?? (() => new Date());
    this.audit = (action, details) => {
      opts.audit(action, details);
      opts.log?.info(action, details);
    };
    this.registry = new KeyRegistry(opts.backend, now);
    this.cards = new CardKeyService(opts.backend, this.registry, opts.cardSeries, this.audit, opts.cardKeyCacheSize);
    this.profile = new CardProfileKeyService(opts.backend, this.registry, this.cards, this.audit);
    this.issuer = new IssuerKeyService(opts.backend, this.registry, this.audit, now);
    this.auditKey = new AuditKeyService(opts.backend, this.registry, this.audit);
    this.lists = new ListCodeService(opts.backend, this.registry, this.cards, this.profile, this.issuer, this.audit);
    this.ceremony = new CeremonyService(this.audit, (mk, by, expectedKcv) =>
      this.installMasterKey(mk, by.officer, expectedKcv),
    );
    // The vendor's components are combined here and go straight into the import, which checks the
    // two officers (the one who began, the one who approved) and the sheet's check value again.
    this.transportCeremony = new CeremonyService<TransportKeyInfo>(
      this.audit,
      (vtmk, by, expectedKcv) =>
        this.profile.importTransportMasterKey(vtmk, {
          officer: by.officer,
          approver: by.approver ?? '',
          reason: 'vendor transport key ceremony',
          ...(expectedKcv !== undefined ? { expectedKcv } : {}),
        }),
      TRANSPORT_KEY_CEREMONY,
    );
  }

  /**
   * Opens (unlocks) the backend and loads the key list. Failures are audited with their code.
   * A keystore without an audit key gets one here, so checkpoints can be signed from the first unlock.
   */
  static async open(opts: KeystoreServiceOptions): Promise<KeystoreService> {
    const ks = new KeystoreService(opts);
    try {
      ks.registry.load(await opts.backend.open());
    } catch (err) {
      await opts.backend.close().catch(() => undefined);
      ks.audit('keystore.open_failed', { backend: opts.backend.kind, code: isAppError(err) ? err.code : 'UNEXPECTED' });
      throw err;
    }
    ks.audit('keystore.opened', { backend: opts.backend.kind, keys: ks.registry.list().length });
    try {
      await ks.auditKey.ensure();
    } catch (err) {
      await ks.close().catch(() => undefined);
      throw err;
    }
    return ks;
  }

  get backend() {
    return this.opts.backend.kind;
  }

  async status(): Promise<KeystoreStatus> {
    const mk = this.registry.active('master');
    const s = this.registry.active('issuer-signing');
    const ca = this.registry.active('bank-ca');
    const vtmk = this.registry.active('transport');
    return {
      backend: this.backend,
      masterKey: mk ? { version: mk.version, kcv: mk.kcv } : null,
      issuerKey: s ? { version: s.version, kcv: s.kcv } : null,
      bankCa: ca ? { kcv: ca.kcv } : null,
      transportKey: vtmk ? { version: vtmk.version, kcv: vtmk.kcv } : null,
      ceremonyInProgress: this.ceremony.progress() !== null,
    };
  }

  async listKeys(): Promise<KeyInfo[]> {
    return this.registry.list();
  }

  async generateMasterKey(opts: { officer: string }): Promise<KeyInfo> {
    const ref = this.opts.backend.generateAes(32, { persistent: true, extractable: false });
    return this.register(ref, 'generated', opts.officer);
  }

  private async installMasterKey(mk: Buffer, officer: string, expectedKcv?: string): Promise<KeyInfo> {
    const ref = this.opts.backend.importAes(mk, { persistent: true, extractable: false });
    const kcv = aesKcv(this.opts.backend, ref);
    if (expectedKcv !== undefined && expectedKcv.toUpperCase() !== kcv) {
      this.opts.backend.destroy(ref);
      this.audit('keystore.ceremony.master_key_rejected', { officer, kcv, reason: 'kcv_mismatch' });
      throw new AppError(
        'CEREMONY_KCV_MISMATCH',
        'The combined master key does not match the expected check value. Check each component with its custodian; nothing was stored.',
      );
    }
    return this.register(ref, 'components', officer);
  }

  private async register(ref: string, origin: 'generated' | 'components', officer: string): Promise<KeyInfo> {
    const kcv = aesKcv(this.opts.backend, ref);
    const rec = this.registry.add({ id: ref, purpose: 'master', kcv, algorithm: 'AES-256', origin }, 'superseded');
    await this.registry.commit();
    this.audit('keystore.master_key.installed', { officer, origin, kcv, version: rec.version });
    return toInfo(rec);
  }

  async cardKey(n: string, sn?: number): Promise<CardKeyHandle> {
    return this.cards.cardKey(n, sn);
  }
  async cardKeyState(n: string): Promise<CardKeyState> {
    return this.cards.state(n);
  }
  async retireCardKey(n: string, opts: { reason: string; operator: string }): Promise<CardKeyState> {
    return this.cards.retire(n, opts);
  }
  async prepareCardKeyRotation(n: string, opts: CardKeyActor): Promise<CardKeyRotation> {
    return this.cards.prepareRotation(n, opts);
  }
  async confirmCardKeyRotation(n: string, sn: number): Promise<CardKeyState> {
    return this.cards.confirmRotation(n, sn);
  }
  async formatCustomerKeyForMailer(n: string, opts: MailerKeyRequest): Promise<MailerKey> {
    return this.cards.formatForMailer(n, opts);
  }

  async importTransportMasterKey(
    value: Uint8Array,
    opts: { officer: string; approver: string; reason: string; expectedKcv?: string },
  ): Promise<TransportKeyInfo> {
    return this.profile.importTransportMasterKey(value, opts);
  }
  async removeTransportMasterKey(opts: {
    officer: string;
    approver: string;
    reason: string;
  }): Promise<{ removed: TransportKeyInfo }> {
    return this.profile.removeTransportMasterKey(opts);
  }
  async transportKey(cardId: Uint8Array): Promise<TransportKeyHandle> {
    return this.profile.transportKey(cardId);
  }
  async openSecureSession(
    base: CardKeyHandle | TransportKeyHandle,
    hostChallenge: Uint8Array,
    cardChallenge: Uint8Array,
  ): Promise<SecureSessionHandle> {
    return this.profile.openSession(base, hostChallenge, cardChallenge);
  }
  async verifyCardCryptogram(session: SecureSessionHandle, cryptogram: Uint8Array): Promise<boolean> {
    return this.profile.verifyCardCryptogram(session, cryptogram);
  }
  async wrapSecureCommand(
    session: SecureSessionHandle,
    counter: number,
    header: SmCommandHeader,
    parts: readonly SmCommandPart[],
  ): Promise<Buffer> {
    return this.profile.wrapCommand(session, counter, header, parts);
  }
  async unwrapSecureResponse(
    session: SecureSessionHandle,
    counter: number,
    data: Uint8Array,
    sw: number,
  ): Promise<Buffer | undefined> {
    return this.profile.unwrapResponse(session, counter, data, sw);
  }
  async issueCodeList(target: CodeListTarget, request: CodeListRequest): Promise<IssuedCodeList> {
    return this.lists.issue(target, request);
  }
  async issueEmergencySheet(request: EmergencySheetRequest, opts: EmergencySheetActor): Promise<EmergencySheet> {
    return this.lists.issueSheet(request, opts);
  }
  async checkListCode(list: CodeListRef, index: number, code: string): Promise<boolean> {
    return this.lists.check(list, index, code);
  }
  async passkeyTag(scope: string, passkey: string): Promise<string> {
    return passkeyTag(this.opts.backend, this.registry, scope, passkey);
  }
  async checkCodeChallengeAnswer(
    card: CardKeyHandle,
    list: CodeListRef,
    index: number,
    challenge: Uint8Array,
    mac: Uint8Array,
  ): Promise<boolean> {
    return this.lists.checkChallengeAnswer(card, list, index, challenge, mac);
  }
  async verifyReceipt(receiptKey: ReceiptKeyHandle, message: Uint8Array, mac: Uint8Array): Promise<boolean> {
    return this.profile.verifyReceipt(receiptKey, message, mac);
  }
  async verifyChallengeResponse(
    card: CardKeyHandle,
    cardId: Uint8Array,
    message: Uint8Array,
    response: Uint8Array,
  ): Promise<boolean> {
    return this.profile.verifyChallengeResponse(card, cardId, message, response);
  }
  async release(handle: EphemeralHandle): Promise<void> {
    this.profile.release(handle);
  }

  async createBankCa(opts: { commonName: string; officer: string; validDays?: number }): Promise<KeyInfo> {
    return this.issuer.createBankCa(opts);
  }
  async caPublicKey(): Promise<CaPublicKey> {
    return this.issuer.caPublicKey();
  }
  async caCertificatePem(): Promise<string> {
    return this.issuer.caCertificatePem();
  }
  async issueClientCertificate(opts: {
    publicKeySpkiDer: Uint8Array;
    commonName: string;
    validDays: number;
    operator: string;
  }): Promise<ClientCertificate> {
    const cert = this.issuer.issueClientCertificate(opts);
    this.audit('keystore.client_certificate.issued', {
      operator: opts.operator,
      serial: cert.serial,
      not_after: cert.notAfter,
      ca_kcv: cert.caKcv,
    });
    return cert;
  }
  async createIssuerKey(opts: { commonName: string; officer: string; validDays?: number }): Promise<KeyInfo> {
    return this.issuer.createIssuerKey(opts);
  }
  async issuerCertificatePem(): Promise<string> {
    return this.issuer.issuerCertificatePem();
  }
  async sign(data: Uint8Array, encoding: 'der' | 'p1363' = 'der'): Promise<Buffer> {
    // S signs code lists only inside issueCodeList: a list body with the caller's own codes is refused here.
    if (isListBody(data)) {
      this.audit('keystore.issuer.sign_refused', { what: 'list_body' });
      throw new AppError(
        'KEY_WRONG_USE',
        'The issuer key signs code lists only when the keystore makes them (issueCodeList). Ask for the list instead.',
      );
    }
    return this.issuer.sign(data, encoding);
  }
  async verify(data: Uint8Array, signature: Uint8Array, encoding: 'der' | 'p1363' = 'der'): Promise<boolean> {
    return this.issuer.verify(data, signature, encoding);
  }

  async issuerCardCredential(): Promise<IssuerCardCredential> {
    return this.issuer.cardCredential();
  }

  async auditPublicKey(): Promise<AuditKeyPublic> {
    return this.auditKey.publicKey();
  }
  async signAudit(data: Uint8Array): Promise<Buffer> {
    return this.auditKey.sign(data);
  }

  async backupTo(file: string, custodians: BackupCustodians, opts: { officer: string }): Promise<void> {
    const b = this.opts.backend;
    if (!b.exportBackup) throw backupUnsupported();
    const [first, second] = custodians;
    const refuse = (err: AppError): never => {
      this.audit('keystore.backup.refused', { officer: opts.officer, code: err.code });
      throw err;
    };
    if (first.operator.toLowerCase() === second.operator.toLowerCase()) refuse(sameCustodian());
    if (first.passphrase.normalize('NFC') === second.passphrase.normalize('NFC')) refuse(samePassphrase('backup'));
    this.checkBackupPath(file, opts.officer, 'backup');
    writeFileAtomic(file, await b.exportBackup(custodians, this.registry.serialise()));
    this.audit('keystore.backup.written', {
      officer: opts.officer,
      custodians: `${first.operator},${second.operator}`,
      keys: this.registry.list().length,
    });
  }

  async restoreFrom(file: string, passphrases: readonly [string, string], opts: { officer: string }): Promise<void> {
    const b = this.opts.backend;
    if (!b.importBackup) throw backupUnsupported();
    this.checkBackupPath(file, opts.officer, 'restore');
    let blob: Buffer;
    try {
      blob = readFileSync(file);
    } catch {
      throw new AppError(
        'KEYSTORE_BACKUP_UNREADABLE',
        `The backup file ${file} cannot be read. Check the path and the medium.`,
      );
    }
    try {
      // Two custodians never share a passphrase (backupTo refuses it), so one typed twice is one person.
      if (passphrases[0].normalize('NFC') === passphrases[1].normalize('NFC')) throw samePassphrase('restore');
      const metadata = await b.importBackup(blob, passphrases);
      this.cards.clear();
      this.profile.clear();
      this.registry.load(metadata);
    } catch (err) {
      this.audit('keystore.backup.restore_failed', {
        officer: opts.officer,
        code: isAppError(err) ? err.code : 'UNEXPECTED',
      });
      throw err;
    }
    this.audit('keystore.backup.restored', { officer: opts.officer, keys: this.registry.list().length });
    await this.auditKey.ensure(); // a backup from before audit keys existed
  }

  /**
   * A backup holds every key, so where it goes is not the caller's choice: only a file directly in
   * the keystore's backups folder (main names the files there, keystore-backup.service.ts).
   */
  private checkBackupPath(file: string, officer: string, what: 'backup' | 'restore'): void {
    const dir = this.opts.backupDir;
    const ok =
      dir !== undefined &&
      typeof file === 'string' &&
      isAbsolute(file) &&
      resolve(file) === file &&
      dirname(file) === resolve(dir);
    if (ok) return;
    this.audit('keystore.backup.path_refused', { officer, what });
    throw new AppError(
      'KEYSTORE_BACKUP_PATH',
      "Backups are written to and restored from the keystore's backups folder only. Choose a backup on the Keys page.",
    );
  }

  async close(): Promise<void> {
    this.ceremony.abort();
    this.transportCeremony.abort();
    this.cards.clear();
    this.profile.clear();
    this.lists.clear();
    await this.opts.backend.close();
    this.audit('keystore.closed', { backend: this.backend });
  }

  async auditAnchor(): Promise<AuditAnchor | null> {
    return this.auditKey.anchor();
  }
  async signAuditCheckpoint(
    checkpoint: AuditCheckpointToSign,
    since: readonly AuditChainEntry[],
  ): Promise<SignedAuditCheckpoint> {
    return this.auditKey.signCheckpoint(checkpoint, since);
  }
}

function samePassphrase(step: 'backup' | 'restore'): AppError {
  const unchanged = step === 'backup' ? 'nothing was written' : 'the keys on this desk were not changed';
  return new AppError(
    'KEYSTORE_BACKUP_SAME_PASSPHRASE',
    `The two backup passphrases are the same. Each custodian of a backup holds a passphrase of their own; ${unchanged}.`,
  );
}

/** Exported so the backup channels refuse an HSM before asking for a second approver. */
export function backupUnsupported(): AppError {
  return new AppError(
    'KEYSTORE_BACKUP_UNSUPPORTED',
    "This keystore lives on an HSM: back it up with the HSM vendor's tools (key backup/cloning under dual control).",
  );
}

function isListBody(data: Uint8Array): boolean {
  try {
    decodeListBody(Buffer.from(data));
    return true;
  } catch {
    return false;
  }
}

// The keystore as its callers see it: handles, key check values and public material only.
// Key bytes leave in exactly two ways: wrapped under another key for a card, or formatted
// for the K/N mailer through formatCustomerKeyForMailer (audited).

import type { Role } from '../../shared/roles';

export type BackendKind = 'software' | 'pkcs11';
export type KeyPurpose = 'master' | 'issuer-signing' | 'bank-ca' | 'audit';
/**
 * Purposes the keystore stores. The card vendor's transport master key (`transport`) is kept out of
 * listKeys() until the Keys contract lists it (its purpose and algorithm enums do not have it yet).
 */
export type StoredKeyPurpose = KeyPurpose | 'transport';
/** active: in use; superseded: an older master key still serving cards not yet rotated; retired: never used again. */
export type KeyState = 'active' | 'superseded' | 'retired';

/** `(action, details)`; details carry identifiers and KCVs, never key bytes. */
export type AuditSink = (action: string, details: Record<string, string | number | boolean>) => void;

export interface KeyInfo {
  readonly id: string;
  readonly purpose: KeyPurpose;
  readonly version: number;
  readonly state: KeyState;
  readonly createdAt: string;
  /** AES keys: GlobalPlatform KCV. EC keys: first 3 bytes of SHA-256(SPKI), also 6 hex digits. */
  readonly kcv: string;
  readonly algorithm: 'AES-256' | 'EC-P256';
  readonly origin: 'generated' | 'components';
}

export interface KeystoreStatus {
  readonly backend: BackendKind;
  readonly masterKey: { readonly version: number; readonly kcv: string } | null;
  readonly issuerKey: { readonly version: number; readonly kcv: string } | null;
  readonly bankCa: { readonly kcv: string } | null;
  readonly ceremonyInProgress: boolean;
}

/** A card key K = KDF(MK_v, N, SN). The handle names the key; it holds no bytes. */
export interface CardKeyHandle {
  readonly kind: 'card';
  readonly n: string;
  readonly sn: number;
  readonly mkVersion: number;
  readonly kcv: string;
}

/** An ephemeral AES key living inside the keystore (SM session key, list session key, unwrapped key). */
export interface SessionKeyHandle {
  readonly kind: 'session';
  readonly id: string;
  readonly kcv: string;
}

export type SymmetricKeyHandle = CardKeyHandle | SessionKeyHandle;

export interface SecureMessagingKeys {
  readonly sEnc: SessionKeyHandle;
  readonly sMac: SessionKeyHandle;
  readonly sRmac: SessionKeyHandle;
}

export interface CardKeyState {
  readonly n: string;
  readonly sn: number;
  readonly mkVersion: number;
  /** Set between prepareCardKeyRotation and confirmCardKeyRotation. */
  readonly pendingSn: number | null;
  readonly retiredSns: number;
  readonly kcv: string;
}

export interface CardKeyRotation {
  readonly next: CardKeyHandle;
  /** K' wrapped under the card's current K (AES key wrap with padding, RFC 5649). */
  readonly wrappedNextKey: Buffer;
}

export interface MailerKey {
  readonly n: string;
  readonly sn: number;
  readonly kcv: string;
  /** 7 groups "XXXXC-..." (docs/keystore.md, "Mailer key format"). */
  readonly formatted: string;
}

/** The vendor transport master key VTMK as installed: check value and version, never the key. */
export interface TransportKeyInfo {
  readonly kcv: string;
  readonly version: number;
}

/** Labels of the card profile's KDF (docs/card-profile.md 1.2) that may be derived from a card or session key. */
export type CardProfileKdfLabel =
  | 'OTAC SM ENC'
  | 'OTAC SM MAC'
  | 'OTAC SM RMAC'
  | 'OTAC list ENC'
  | 'OTAC list MAC'
  | 'OTAC receipt'
  | 'OTAC challenge';

/** Plaintext for encryptWithCardKeys: clear bytes, or a card key whose bytes the keystore puts in place. */
export type CardKeyPlaintextPart = Uint8Array | CardKeyHandle;

/** Public-key mode list keys (card profile 7.3, type 02): P = E-ENC || E-MAC, and P under the card's RSA key. */
export interface WrappedListKeys {
  readonly enc: SessionKeyHandle;
  readonly mac: SessionKeyHandle;
  /** RSA-OAEP (SHA-1, MGF1-SHA-1) of the 32 bytes of P. */
  readonly wrapped: Buffer;
}

/** What a card checks a list signature with (card profile 7.2). */
export interface IssuerCardCredential {
  /** S's public key, 04 || X || Y. */
  readonly publicKey: Buffer;
  /** The bank CA's ECDSA-SHA256 signature (DER) over 01 || publicKey. */
  readonly caSignature: Buffer;
}

export interface CaPublicKey {
  readonly spkiDer: Buffer;
  /** 04 || X || Y, the form a card stores for verification. */
  readonly uncompressedPoint: Buffer;
  readonly pem: string;
}

/** The audit key's public half. Its KCV is the first 6 hex digits of the audit key id (docs/audit.md). */
export interface AuditKeyPublic {
  readonly spkiDer: Buffer;
  readonly pem: string;
  readonly kcv: string;
  readonly version: number;
}

export interface CeremonyProgress {
  readonly components: 2 | 3;
  /** Indexes (1-based) of components entered so far. */
  readonly entered: readonly number[];
}

/** One custodian of a backup: the operator's user name and the backup passphrase only they know. */
export interface BackupCustodian {
  readonly operator: string;
  readonly passphrase: string;
}
export type BackupCustodians = readonly [BackupCustodian, BackupCustodian];

/** The operator entering a ceremony component, as their own credentials identified them. */
export interface CeremonyCustodian {
  readonly operatorId: number;
  readonly username: string;
  readonly role: Role;
  /** Still on a password someone else set (new or reset account): not yet a person of their own. */
  readonly temporaryPassword: boolean;
}

/** Security-officer key ceremony, driven step by step by a wizard. Component bytes are never returned. */
export interface KeyCeremony {
  begin(opts: { components: 2 | 3; officer: string }): CeremonyProgress;
  /** Refuses when no ceremony is running or `index` is outside it, before anyone types credentials. */
  checkIndex(index: number): void;
  /**
   * Enter component `index` (1-based) as hex, by a custodian whose credentials the caller has just
   * verified; with `expectedKcv`, a mismatch rejects it. One custodian enters one component only.
   */
  enterComponent(index: number, hex: string, opts: { custodian: CeremonyCustodian; expectedKcv?: string }): { index: number; kcv: string };
  /** XOR the components into a new master key; with `expectedKcv`, a mismatch stores nothing. */
  finish(opts?: { expectedKcv?: string }): Promise<KeyInfo>;
  abort(): void;
  progress(): CeremonyProgress | null;
}

export interface Keystore {
  readonly backend: BackendKind;
  readonly ceremony: KeyCeremony;
  status(): Promise<KeystoreStatus>;
  listKeys(): Promise<KeyInfo[]>;
  /** Master key generated inside the keystore; when one exists it is superseded (rotation). */
  generateMasterKey(opts: { officer: string }): Promise<KeyInfo>;

  cardKey(n: string, sn?: number): Promise<CardKeyHandle>;
  cardKeyState(n: string): Promise<CardKeyState>;
  /** Compromised K: move the card to the next SN (active master key). No other card changes. */
  retireCardKey(n: string, opts: { reason: string; operator: string }): Promise<CardKeyState>;
  /** K' = next SN, wrapped under the current K for the card; becomes current on confirm. */
  prepareCardKeyRotation(n: string): Promise<CardKeyRotation>;
  confirmCardKeyRotation(n: string, sn: number): Promise<CardKeyState>;
  /** The only clear-text exit for K, for the printed mailer. Audited. */
  formatCustomerKeyForMailer(n: string, opts: { operator: string; reason: string }): Promise<MailerKey>;

  deriveSecureMessagingKeys(card: CardKeyHandle, hostChallenge: Uint8Array, cardChallenge: Uint8Array): Promise<SecureMessagingKeys>;
  generateSessionKey(): Promise<SessionKeyHandle>;
  /** AES-CBC without padding (callers pad, e.g. ISO 9797-1 method 2). */
  encrypt(key: SymmetricKeyHandle, iv: Uint8Array, data: Uint8Array): Promise<Buffer>;
  decrypt(key: SymmetricKeyHandle, iv: Uint8Array, data: Uint8Array): Promise<Buffer>;
  /** AES-CMAC, 16 bytes. */
  mac(key: SymmetricKeyHandle, data: Uint8Array): Promise<Buffer>;
  verifyMac(key: SymmetricKeyHandle, data: Uint8Array, tag: Uint8Array): Promise<boolean>;
  wrapKey(wrapping: SymmetricKeyHandle, target: SymmetricKeyHandle): Promise<Buffer>;
  unwrapKey(wrapping: SymmetricKeyHandle, wrapped: Uint8Array): Promise<SessionKeyHandle>;
  /** RSA-OAEP (SHA-1, MGF1-SHA-1) of a session key under the card's public key (public-key mode). */
  wrapForCardPublicKey(target: SessionKeyHandle, cardPublicKeySpkiDer: Uint8Array): Promise<Buffer>;
  release(key: SessionKeyHandle): Promise<void>;

  // The card profile (docs/card-profile.md), so the card protocol runs on handles (keystore-card-key-port.ts).
  /** Installs the card vendor's transport master key (AES-128, never extractable). Audited. */
  importTransportMasterKey(value: Uint8Array, opts: { officer: string; reason: string }): Promise<TransportKeyInfo>;
  /** A blank card's transport key KT = KDF(VTMK, "OTAC transport", card id) (profile 6.1). */
  transportKey(cardId: Uint8Array): Promise<SessionKeyHandle>;
  /** KDF(parent, label, context) of profile 1.2: SM session keys, list keys, receipt and challenge keys. */
  deriveCardProfileKey(parent: SymmetricKeyHandle, label: CardProfileKdfLabel, context: Uint8Array): Promise<SessionKeyHandle>;
  /** AES-CBC without padding of clear bytes and card keys put together inside (PERSONALISE, ROTATE KEY). Audited per card key. */
  encryptWithCardKeys(key: SymmetricKeyHandle, iv: Uint8Array, parts: readonly CardKeyPlaintextPart[]): Promise<Buffer>;
  /** Fresh P for a public-key-mode list, as two session keys and wrapped under the card's RSA key (SPKI DER). */
  generateWrappedListKeys(cardPublicKeySpkiDer: Uint8Array): Promise<WrappedListKeys>;

  /** Bank CA key inside the keystore — for tests and demos; production imports the bank's certificate. */
  createBankCa(opts: { commonName: string; officer: string; validDays?: number }): Promise<KeyInfo>;
  caPublicKey(): Promise<CaPublicKey>;
  caCertificatePem(): Promise<string>;
  /** Issuer signing key S (ECDSA P-256) with an X.509 certificate signed by the bank CA. */
  createIssuerKey(opts: { commonName: string; officer: string; validDays?: number }): Promise<KeyInfo>;
  issuerCertificatePem(): Promise<string>;
  /** ECDSA P-256 / SHA-256 with S. */
  sign(data: Uint8Array, encoding?: 'der' | 'p1363'): Promise<Buffer>;
  verify(data: Uint8Array, signature: Uint8Array, encoding?: 'der' | 'p1363'): Promise<boolean>;
  /** S's point and the bank CA's signature over it, as the card wants them with each list. */
  issuerCardCredential(): Promise<IssuerCardCredential>;

  /** The audit key (ECDSA P-256, made with the keystore): its public half, for verifiers. */
  auditPublicKey(): Promise<AuditKeyPublic>;
  /** ECDSA P-256 / SHA-256 with the audit key, DER. Signs audit checkpoints and nothing else. */
  signAudit(data: Uint8Array): Promise<Buffer>;

  /**
   * Encrypted copy of the whole keystore that only two custodians together can open, each with a
   * backup passphrase of their own (software backend; docs/keystore.md, backup file format 2).
   */
  backupTo(file: string, custodians: BackupCustodians, opts: { officer: string }): Promise<void>;
  /** Both custodians' backup passphrases, in the order the file names its custodians. */
  restoreFrom(file: string, passphrases: readonly [string, string], opts: { officer: string }): Promise<void>;
  close(): Promise<void>;

  /** The last audit checkpoint this keystore signed, kept where the database cannot rewrite it; null before the first. */
  auditAnchor(): Promise<AuditAnchor | null>;
  /**
   * Signs the audit checkpoint at `checkpoint.seq` with the audit key and moves the anchor there.
   * `since` are the entries after the anchor up to that seq: the keystore checks that they link the
   * anchor's hash to the checkpoint's, so the anchor only moves forward along one chain. Refused (nothing
   * signed, anchor unchanged) when the log ends before the anchor or does not lead from it.
   */
  signAuditCheckpoint(checkpoint: AuditCheckpointToSign, since: readonly AuditChainEntry[]): Promise<SignedAuditCheckpoint>;
}

/** Where the audit chain stood at the last checkpoint the keystore signed (docs/audit.md, "The anchor"). */
export interface AuditAnchor {
  readonly seq: number;
  /** The entry hash at `seq`. */
  readonly hash: string;
  /** The checkpoint's signed_at. */
  readonly at: string;
  readonly keyId: string;
}

export interface AuditCheckpointToSign {
  readonly seq: number;
  readonly hash: string;
  readonly signedAt: string;
}

export interface SignedAuditCheckpoint {
  readonly keyId: string;
  /** DER ECDSA over the checkpoint message of docs/audit.md. */
  readonly signature: Buffer;
}

/** An audit entry as stored (the fields its hash covers, and the hash). */
export interface AuditChainEntry {
  readonly seq: number;
  readonly at: string;
  readonly operator_id: number | null;
  readonly operator: string | null;
  readonly role: string | null;
  readonly action: string;
  readonly object: string | null;
  readonly outcome: 'ok' | 'denied' | 'failed';
  readonly details: string;
  readonly prev_hash: string;
  readonly hash: string;
}

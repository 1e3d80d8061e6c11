import type { Role } from '../../shared/roles';

// The keystore as its callers see it: handles, key check values and public material only.
// Every key has fixed uses decided when it is made; there is no generic encrypt/MAC/wrap over a
// handle. Key bytes leave in exactly two ways: a card key inside the secure-messaging command that
// installs it on its own card (PERSONALISE, ROTATE KEY), or formatted for the K/N mailer through
// formatCustomerKeyForMailer. Both audited (docs/keystore.md). A backup is not a third exit: it opens
// only with two custodians' passphrases together (docs/keystore.md, backup file format 2).

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
  /** The card vendor's transport master key, when one is loaded (blank cards can be personalised). */
  readonly transportKey: { readonly version: number; readonly kcv: string } | null;
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

/**
 * A blank card's transport key KT = KDF(VTMK, "OTAC transport", card id), inside the keystore.
 * Its one use: opening a secure session that carries PERSONALISE.
 */
export interface TransportKeyHandle {
  readonly kind: 'transport';
  readonly id: string;
  readonly kcv: string;
}

/**
 * A secure-messaging session (card profile 6: S-ENC, S-MAC, S-RMAC) opened inside the keystore from
 * a card key or a transport key. Its only uses: verify the card cryptogram, wrap a command, unwrap a
 * response. The session keys themselves have no handle.
 */
export interface SecureSessionHandle {
  readonly kind: 'sm-session';
  readonly id: string;
  /** What the session was opened from; decides which commands may carry key bytes (docs/keystore.md). */
  readonly base: 'card' | 'transport';
}

/** The receipt key of one sealed list (profile 7.4). Its one use: verifyReceipt. */
export interface ReceiptKeyHandle {
  readonly kind: 'receipt';
  readonly id: string;
}

/** Everything release() accepts: the short-lived handles. Card keys are named, not held. */
export type EphemeralHandle = TransportKeyHandle | SecureSessionHandle | ReceiptKeyHandle;

export interface CardKeyState {
  readonly n: string;
  readonly sn: number;
  readonly mkVersion: number;
  /** Set between prepareCardKeyRotation and confirmCardKeyRotation. */
  readonly pendingSn: number | null;
  readonly retiredSns: number;
  readonly kcv: string;
}

/** K' for the next SN. It reaches the card only inside ROTATE KEY under a session of the card's current K. */
export interface CardKeyRotation {
  readonly next: CardKeyHandle;
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

/**
 * A mailer export: who, why, and which series — `current` (the default: the initial mailer) or
 * `pending`, the K' a reprint puts on paper before the card takes it (docs/mailer.md).
 */
export interface MailerKeyRequest extends CardKeyActor {
  readonly reason: string;
  readonly series?: 'current' | 'pending';
}

/** Who acts, and in which role, for the two card-key exports that name a person (mailer, rotation). */
export interface CardKeyActor {
  readonly operator: string;
  readonly role: Role;
}

/** Printing K on the mailer is a manager's task (PRODUCT.md); the mailer channel adds dual control. */
export const MAILER_ROLES: readonly Role[] = ['manager'];
/** Re-keying a card is a card-workflow step: a reprint (manager), a reissue (support), a key rotation (security officer). */
export const CARD_KEY_ROTATION_ROLES: readonly Role[] = ['manager', 'support', 'security_officer'];

/**
 * Plaintext of a secure-messaging command, put together inside the keystore: clear bytes, a card
 * key's bytes, or its 3-byte check value. Key bytes are accepted in exactly two commands
 * (docs/keystore.md, "Card profile on handles"): PERSONALISE under a transport session, and
 * ROTATE KEY carrying the card's pending K' (then its KCV) under a session of its current K.
 */
export type SmCommandPart = Uint8Array | { readonly keyOf: CardKeyHandle } | { readonly kcvOf: CardKeyHandle };

/** The four header bytes of an SM command, as MACed. */
export interface SmCommandHeader {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
}

/** What a list envelope binds (profile 7.3). */
export interface ListSealInput {
  readonly cardId: Uint8Array;
  readonly listSeq: number;
  /** Version of the card key the envelope is for (type 01); 0 for public-key mode. */
  readonly keyVersion: number;
  /** encodeSignedList(...) output. */
  readonly signedList: Uint8Array;
}

export interface SealedListEnvelope {
  readonly envelope: Buffer;
  readonly receiptKey: ReceiptKeyHandle;
}

/** The key a code list is sealed for: the card's key K (envelope type 01) or its own RSA key (type 02). */
export type CodeListTarget =
  | { readonly mode: 'card-key'; readonly card: CardKeyHandle }
  | { readonly mode: 'public-key'; readonly cardPublicKeySpkiDer: Uint8Array };

/** A list to make, without its codes: the keystore draws them (docs/keystore.md, "Code lists"). */
export interface CodeListRequest {
  readonly cardId: Uint8Array;
  readonly listSeq: number;
  /** 16 random bytes the database stores; with the master key it gives the list its secret. */
  readonly listId: Uint8Array;
  readonly length: number;
  /** 6–10. */
  readonly digits: number;
  /** Seconds since 1970 UTC. */
  readonly expiry: number;
  readonly threshold: number;
}

/** A list made, signed and sealed inside the keystore: the envelope and what the database keeps. Never a code. */
export interface IssuedCodeList {
  readonly envelope: Buffer;
  readonly receiptKey: ReceiptKeyHandle;
  readonly listId: Buffer;
  /** SHA-256 of the list body, for the card's receipt (profile 7.6). */
  readonly bodyHash: Buffer;
  /** The master key version the list secret comes from. */
  readonly mkVersion: number;
  /** The one key the list is sealed for: `card:<N>` or `rsa:<SHA-256 of the SPKI, hex>`. */
  readonly sealedFor: string;
}

/** An emergency list to make for paper: the card it stands in for (its N), without codes. */
export interface EmergencySheetRequest {
  readonly n: string;
  readonly cardId: Uint8Array;
  readonly listSeq: number;
  /** 16 random bytes the database stores. */
  readonly listId: Uint8Array;
  readonly length: number;
  readonly digits: number;
}

export interface EmergencySheetActor extends CardKeyActor {
  readonly reason: string;
}

/** The printed sheet's codes (for the sheet only) and what the database keeps of the list. */
export interface EmergencySheet {
  /** Code i is codes[i − 1]; goes into the sheet's HTML and nowhere else. */
  readonly codes: readonly string[];
  readonly mkVersion: number;
  /** `sheet:<N>`. */
  readonly sealedFor: string;
  /** SHA-256 over the list id and the codes, 64 hex digits: names the sheet, gives no code. */
  readonly bodyHash: string;
}

/** What the database holds of a list, enough for the keystore to check one code and nothing more. */
export interface CodeListRef {
  readonly cardId: Uint8Array;
  readonly listSeq: number;
  readonly listId: Uint8Array;
  readonly length: number;
  readonly digits: number;
  readonly mkVersion: number;
  readonly sealedFor: string;
}

/** What a card checks a list signature with (card profile 7.2). */
export interface IssuerCardCredential {
  /** S's public key, 04 || X || Y. */
  readonly publicKey: Buffer;
  /** The bank CA's ECDSA-SHA256 signature (DER) over 01 || publicKey. */
  readonly caSignature: Buffer;
}

/** A TLS client certificate the bank CA signed (public data only: the client holds its private key). */
export interface ClientCertificate {
  readonly pem: string;
  /** Lower-case hex, as X509Certificate.serialNumber. */
  readonly serial: string;
  /** "AB:CD:…", as X509Certificate.fingerprint256 and a TLS peer certificate's fingerprint256. */
  readonly fingerprint256: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** The check value of the bank CA that signed it. */
  readonly caKcv: string;
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
export interface KeyCeremony<R = KeyInfo> {
  /** `approver`: the second officer who approved the begin; the transport key is stored only with one. */
  begin(opts: { components: 2 | 3; officer: string; approver?: string }): CeremonyProgress;
  /** Refuses a begin that would be refused (a transport key ceremony already running), before anyone approves. */
  checkBegin(): void;
  /** Refuses when no ceremony is running or `index` is outside it, before anyone types credentials. */
  checkIndex(index: number): void;
  /**
   * Enter component `index` (1-based) as hex, by a custodian whose credentials the caller has just
   * verified; with `expectedKcv`, a mismatch rejects it. One custodian enters one component only.
   */
  enterComponent(
    index: number,
    hex: string,
    opts: { custodian: CeremonyCustodian; expectedKcv?: string },
  ): { index: number; kcv: string };
  /** XOR the components into the new key; with `expectedKcv`, a mismatch stores nothing. */
  finish(opts?: { expectedKcv?: string }): Promise<R>;
  abort(): void;
  progress(): CeremonyProgress | null;
}

export interface Keystore {
  readonly backend: BackendKind;
  readonly ceremony: KeyCeremony;
  /**
   * The card vendor's transport master key from the vendor's component sheets (AES-128, 2 or 3
   * components, each by a different security officer): begun under dual control with its approver,
   * finished only with the key's check value from the sheet.
   */
  readonly transportCeremony: KeyCeremony<TransportKeyInfo>;
  status(): Promise<KeystoreStatus>;
  listKeys(): Promise<KeyInfo[]>;
  /** Master key generated inside the keystore; when one exists it is superseded (rotation). */
  generateMasterKey(opts: { officer: string }): Promise<KeyInfo>;

  /** The card's current (or pending) key K = KDF(MK_v, N, SN). A handle names it; it has no bytes. */
  cardKey(n: string, sn?: number): Promise<CardKeyHandle>;
  cardKeyState(n: string): Promise<CardKeyState>;
  /** Compromised K: move the card to the next SN (active master key). No other card changes. */
  retireCardKey(n: string, opts: { reason: string; operator: string }): Promise<CardKeyState>;
  /** K' = next SN, pending until confirmed; a role in CARD_KEY_ROTATION_ROLES only. Audited. */
  prepareCardKeyRotation(n: string, opts: CardKeyActor): Promise<CardKeyRotation>;
  confirmCardKeyRotation(n: string, sn: number): Promise<CardKeyState>;
  /** The only clear-text exit for K, for the printed mailer; a role in MAILER_ROLES only. Audited. */
  formatCustomerKeyForMailer(n: string, opts: MailerKeyRequest): Promise<MailerKey>;

  // The card profile (docs/card-profile.md 1.2, 6, 7, 8), so the card protocol runs on handles (keystore-card-key-port.ts).
  /**
   * Installs the card vendor's transport master key (AES-128, never extractable): a ceremony under
   * dual control, so `officer` and `approver` are two different named security officers. Audited.
   */
  importTransportMasterKey(
    value: Uint8Array,
    opts: { officer: string; approver: string; reason: string; expectedKcv?: string },
  ): Promise<TransportKeyInfo>;
  /**
   * Removes the vendor transport master key (the desk stops enrolling blank cards): dual control like
   * the import, two different named security officers. The key is destroyed; its record stays retired.
   */
  removeTransportMasterKey(opts: {
    officer: string;
    approver: string;
    reason: string;
  }): Promise<{ removed: TransportKeyInfo }>;
  /** A blank card's transport key KT = KDF(VTMK, "OTAC transport", card id) (profile 6.1). */
  transportKey(cardId: Uint8Array): Promise<TransportKeyHandle>;
  /** OPEN SESSION (profile 6): S-ENC/MAC/RMAC = KDF(base, "OTAC SM …", host challenge ‖ card challenge), kept inside. */
  openSecureSession(
    base: CardKeyHandle | TransportKeyHandle,
    hostChallenge: Uint8Array,
    cardChallenge: Uint8Array,
  ): Promise<SecureSessionHandle>;
  /** True when the card's cryptogram CMAC(S-MAC, 01 ‖ challenges) matches. */
  verifyCardCryptogram(session: SecureSessionHandle, cryptogram: Uint8Array): Promise<boolean>;
  /** Command data field E ‖ T for SM command number `counter`; key parts only where docs/keystore.md allows them. */
  wrapSecureCommand(
    session: SecureSessionHandle,
    counter: number,
    header: SmCommandHeader,
    parts: readonly SmCommandPart[],
  ): Promise<Buffer>;
  /** Verified, decrypted response data; undefined when the R-MAC or the padding does not verify. */
  unwrapSecureResponse(
    session: SecureSessionHandle,
    counter: number,
    data: Uint8Array,
    sw: number,
  ): Promise<Buffer | undefined>;
  /** The card's commit receipt: CMAC(receipt key, message), 16 bytes. */
  verifyReceipt(receiptKey: ReceiptKeyHandle, message: Uint8Array, mac: Uint8Array): Promise<boolean>;
  /** A challenge-response by the card: CMAC(KDF(K, "OTAC challenge", card id), message), 16 bytes. */
  verifyChallengeResponse(
    card: CardKeyHandle,
    cardId: Uint8Array,
    message: Uint8Array,
    response: Uint8Array,
  ): Promise<boolean>;
  /**
   * A code list made inside the keystore: code i = HOTP(list secret, i), the body signed with S and
   * sealed for `target`. The caller gets the envelope, the receipt key and metadata, never a code.
   */
  issueCodeList(target: CodeListTarget, request: CodeListRequest): Promise<IssuedCodeList>;
  /**
   * An emergency list for paper (docs/reissue.md "Temporary access"): made like any list but bound
   * to `sheet:<N>` — never to a card key, so no card list's code can come out here — and its codes
   * returned formatted for the printed sheet: the one clear exit for codes, as the mailer's is for K.
   * A role in MAILER_ROLES only; audited (never the codes).
   */
  issueEmergencySheet(request: EmergencySheetRequest, opts: EmergencySheetActor): Promise<EmergencySheet>;
  /** True when `code` is code `index` of the list, compared in constant time; false otherwise. */
  checkListCode(list: CodeListRef, index: number, code: string): Promise<boolean>;
  /**
   * The support passkey's keyed tag (AES-CMAC under a key derived from the master key that never
   * leaves): 32 hex digits over `scope` (which case, which passkey) and the passkey. The database keeps
   * only this; a passkey typed later is tagged again and the tags compared in constant time.
   */
  passkeyTag(scope: string, passkey: string): Promise<string>;
  /**
   * A card's answer to a challenge with a code (profile 8.2, P1 01): true when `mac` is the card's
   * MAC over the challenge and code `index` of the list, under the challenge key derived from the
   * card key. Neither the code nor a key leaves the keystore; false otherwise.
   */
  checkCodeChallengeAnswer(
    card: CardKeyHandle,
    list: CodeListRef,
    index: number,
    challenge: Uint8Array,
    mac: Uint8Array,
  ): Promise<boolean>;
  /** Destroys a transport key, a session's keys or a receipt key; the handle is refused afterwards. */
  release(handle: EphemeralHandle): Promise<void>;

  /** Bank CA key inside the keystore — for tests and demos; production imports the bank's certificate. */
  createBankCa(opts: { commonName: string; officer: string; validDays?: number }): Promise<KeyInfo>;
  caPublicKey(): Promise<CaPublicKey>;
  caCertificatePem(): Promise<string>;
  /** A TLS client certificate signed by the bank CA for a public key the client sent (never a private key). */
  issueClientCertificate(opts: {
    publicKeySpkiDer: Uint8Array;
    commonName: string;
    validDays: number;
    operator: string;
  }): Promise<ClientCertificate>;
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
   * backup passphrase of their own (software backend; docs/keystore.md, backup file format 2). `file` must lie
   * directly in the keystore's own backups folder (`<keystore dir>/backups/`); any other path is KEYSTORE_BACKUP_PATH.
   */
  backupTo(file: string, custodians: BackupCustodians, opts: { officer: string }): Promise<void>;
  /** Both custodians' backup passphrases, in the order the file names its custodians; the same folder rule. */
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
  signAuditCheckpoint(
    checkpoint: AuditCheckpointToSign,
    since: readonly AuditChainEntry[],
  ): Promise<SignedAuditCheckpoint>;
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

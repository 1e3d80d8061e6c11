import { AppError } from '../errors';
import type {
  CardKeyPort,
  IssuerCredential,
  IssuedList,
  KeyRef,
  ListSealMode,
  SealPart,
  SmSessionCrypto,
} from '../card/card-key-port';
import type { CodeListSpec } from '../card/protocol/list-codes';
import { rsaPublicKeyFrom } from '../card/protocol/list-envelope';
import type {
  CardKeyHandle,
  Keystore,
  ReceiptKeyHandle,
  SecureSessionHandle,
  SmCommandPart,
  TransportKeyHandle,
} from './keystore.types';

// The card protocol's CardKeyPort over the keystore, as a thin adapter: every key the card
// protocol names is a keystore handle behind an opaque KeyRef, and every card-profile operation
// (SM session, list envelope, receipt, challenge-response) runs inside the keystore, which checks
// each handle's use. raw-card-key-port.ts is the same behaviour over raw bytes, for tests.

type Held =
  | { readonly kind: 'card'; readonly handle: CardKeyHandle }
  | { readonly kind: 'transport'; readonly handle: TransportKeyHandle }
  | { readonly kind: 'receipt'; readonly handle: ReceiptKeyHandle }
  | { readonly kind: 'issuer'; readonly version: number };

export class KeystoreCardKeyPort implements CardKeyPort {
  private readonly held = new Map<string, Held>();
  /** The SM session last opened under each base key: the card keeps one session, so the port does too. */
  private readonly smSessions = new Map<string, SecureSessionHandle>();
  private credential: { version: number; value: IssuerCredential } | undefined;

  constructor(private readonly keystore: Keystore) {}

  /** The current (or a named pending) card key for N. */
  async cardKey(n: string, sn?: number): Promise<KeyRef> {
    return this.cardKeyOf(await this.keystore.cardKey(n, sn));
  }

  /** A ref for a card handle the keystore gave out, e.g. the next key of prepareCardKeyRotation. */
  cardKeyOf(handle: CardKeyHandle): KeyRef {
    return this.hold(`card:${handle.mkVersion}/${handle.n}/${handle.sn}`, { kind: 'card', handle });
  }

  /** A blank card's transport key (key version 0), derived from the vendor's transport master key. */
  async transportKey(cardId: Buffer): Promise<KeyRef> {
    const handle = await this.keystore.transportKey(cardId);
    return this.hold(`transport:${handle.id}`, { kind: 'transport', handle });
  }

  /** The active issuer key S; a ref made before S was replaced is refused rather than silently re-pointed. */
  async issuerKey(): Promise<KeyRef> {
    const s = (await this.keystore.status()).issuerKey;
    if (!s)
      throw new AppError(
        'KEYSTORE_NO_ISSUER_KEY',
        'There is no issuer signing key yet. A security officer must create it.',
      );
    return this.hold(`issuer:${s.version}`, { kind: 'issuer', version: s.version });
  }

  /** Releases a transport or receipt key (and any session under it) inside the keystore; card and issuer refs just drop. */
  async release(ref: KeyRef): Promise<void> {
    const held = this.held.get(ref.keyId);
    this.held.delete(ref.keyId);
    await this.releaseSmSession(ref.keyId);
    if (held?.kind === 'transport' || held?.kind === 'receipt') await this.keystore.release(held.handle);
  }

  async openSession(baseKey: KeyRef, hostChallenge: Buffer, cardChallenge: Buffer): Promise<SmSessionCrypto> {
    const held = this.held.get(baseKey.keyId);
    if (held?.kind !== 'card' && held?.kind !== 'transport') throw unknownRef();
    await this.releaseSmSession(baseKey.keyId); // OPEN SESSION ended the card's previous one
    const session = await this.keystore.openSecureSession(held.handle, hostChallenge, cardChallenge);
    this.smSessions.set(baseKey.keyId, session);
    const ks = this.keystore;
    return {
      verifyCardCryptogram: (cryptogram) => ks.verifyCardCryptogram(session, cryptogram),
      wrapCommand: (counter, header, plaintext) =>
        ks.wrapSecureCommand(
          session,
          counter,
          header,
          plaintext.map((p) => this.part(p)),
        ),
      unwrapResponse: (counter, data, sw) => ks.unwrapSecureResponse(session, counter, data, sw),
    };
  }

  async issueList(issuerKey: KeyRef, spec: CodeListSpec, seal: ListSealMode): Promise<IssuedList> {
    await this.activeIssuer(issuerKey);
    const target =
      seal.mode === 'card-key'
        ? ({ mode: 'card-key', card: this.cardHandle(seal.cardKey) } as const)
        : ({
            mode: 'public-key',
            cardPublicKeySpkiDer: rsaPublicKeyFrom(seal.cardPublicKey.modulus, seal.cardPublicKey.exponent).export({
              format: 'der',
              type: 'spki',
            }),
          } as const);
    const issued = await this.keystore.issueCodeList(target, spec);
    return {
      envelope: issued.envelope,
      receiptKey: this.hold(`receipt:${issued.receiptKey.id}`, { kind: 'receipt', handle: issued.receiptKey }),
      listId: issued.listId,
      bodyHash: issued.bodyHash,
      mkVersion: issued.mkVersion,
      sealedFor: issued.sealedFor,
    };
  }

  async verifyReceipt(receiptKey: KeyRef, message: Buffer, mac: Buffer): Promise<boolean> {
    const held = this.held.get(receiptKey.keyId);
    if (held?.kind !== 'receipt') throw unknownRef();
    return this.keystore.verifyReceipt(held.handle, message, mac);
  }

  async issuerCredential(issuerKey: KeyRef): Promise<IssuerCredential> {
    const version = await this.activeIssuer(issuerKey);
    if (this.credential?.version !== version)
      this.credential = { version, value: await this.keystore.issuerCardCredential() };
    return this.credential.value;
  }

  async verifyChallengeResponse(cardKey: KeyRef, cardId: Buffer, message: Buffer, response: Buffer): Promise<boolean> {
    return this.keystore.verifyChallengeResponse(this.cardHandle(cardKey), cardId, message, response);
  }

  /** Key parts name card handles; the keystore decides whether this command may carry them. */
  private part(p: SealPart): SmCommandPart {
    if (Buffer.isBuffer(p)) return p;
    return 'keyOf' in p ? { keyOf: this.cardHandle(p.keyOf) } : { kcvOf: this.cardHandle(p.kcvOf) };
  }

  private async releaseSmSession(keyId: string): Promise<void> {
    const session = this.smSessions.get(keyId);
    this.smSessions.delete(keyId);
    if (session) await this.keystore.release(session);
  }

  private async activeIssuer(ref: KeyRef): Promise<number> {
    const held = this.held.get(ref.keyId);
    if (held?.kind !== 'issuer') throw unknownRef();
    if ((await this.keystore.status()).issuerKey?.version !== held.version) {
      throw new AppError(
        'KEY_REPLACED',
        'The issuer key was replaced since this operation began. Prepare the list again.',
      );
    }
    return held.version;
  }

  private hold(keyId: string, held: Held): KeyRef {
    this.held.set(keyId, held);
    return { keyId };
  }

  private cardHandle(ref: KeyRef): CardKeyHandle {
    const held = this.held.get(ref.keyId);
    if (!held) throw unknownRef();
    if (held.kind !== 'card')
      throw new AppError(
        'KEY_INVALID',
        'That operation needs a card key, not a session key. Use the card key of this card.',
      );
    return held.handle;
  }
}

function unknownRef(): AppError {
  return new AppError('KEY_NOT_FOUND', 'The key handle is unknown or was released. Start the operation again.');
}

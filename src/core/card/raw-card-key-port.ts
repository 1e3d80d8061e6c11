import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { aesCmac } from '../crypto/aes-cmac';
import { AppError } from '../errors';
import type {
  CardKeyPort,
  IssuerCredential,
  KeyRef,
  ListSealRequest,
  RsaPublicKeyBytes,
  SealedList,
  SealPart,
  SmSessionCrypto,
} from './card-key-port';
import { ecdsaSign, ecPublicPoint } from './protocol/ec-keys';
import {
  deriveReceiptKey,
  ENVELOPE_CARD_KEY,
  ENVELOPE_PUBLIC_KEY,
  envelopeKeysFromCardKey,
  envelopeKeysFromSecret,
  rsaPublicKeyFrom,
  sealEnvelope,
  WRAPPED_SECRET_LENGTH,
  wrapSecretForCard,
} from './protocol/list-envelope';
import { issuerKeyMessage } from './protocol/list-format';
import { AES_KEY_LENGTH, TRANSPORT_KEY_VERSION } from './protocol/profile.constants';
import {
  cardCryptogram,
  deriveChallengeKey,
  deriveSessionKeys,
  keyCheckValue,
  macEquals,
  smUnwrapResponse,
  smWrapCommand,
  type SessionKeys,
  type SmHeader,
} from './protocol/sm-crypto';

/**
 * CardKeyPort over key bytes held in this object's memory: for unit tests and the training
 * mode only. Production uses the keystore's implementation of the same port.
 */
export class RawCardKeyPort implements CardKeyPort {
  private readonly aes = new Map<string, Buffer>();
  private readonly issuers = new Map<string, { privateKey: KeyObject; credential: IssuerCredential }>();

  importAesKey(bytes: Buffer): KeyRef {
    if (bytes.length !== AES_KEY_LENGTH)
      throw new AppError('KEY_INVALID', 'Card keys are AES-128 (16 bytes). Check the key source.');
    const keyId = randomUUID();
    this.aes.set(keyId, Buffer.from(bytes));
    return { keyId };
  }

  /** An issuer signing key together with the CA's signature over its public key. */
  importIssuerKey(privateKey: KeyObject, caSignature: Buffer): KeyRef {
    const keyId = randomUUID();
    const publicPoint = ecPublicPoint(privateKey);
    this.issuers.set(keyId, { privateKey, credential: { publicKey: publicPoint, caSignature } });
    return { keyId };
  }

  forget(ref: KeyRef): void {
    this.aes.get(ref.keyId)?.fill(0);
    this.aes.delete(ref.keyId);
    this.issuers.delete(ref.keyId);
  }

  private key(ref: KeyRef): Buffer {
    const k = this.aes.get(ref.keyId);
    if (!k)
      throw new AppError('KEY_NOT_FOUND', 'The key handle is unknown or was released. Start the operation again.');
    return k;
  }

  private assemble(parts: readonly SealPart[]): Buffer {
    return Buffer.concat(
      parts.map((p) => (Buffer.isBuffer(p) ? p : 'keyOf' in p ? this.key(p.keyOf) : keyCheckValue(this.key(p.kcvOf)))),
    );
  }

  async openSession(cardKey: KeyRef, hostChallenge: Buffer, cardChallenge: Buffer): Promise<SmSessionCrypto> {
    const keys: SessionKeys = deriveSessionKeys(this.key(cardKey), hostChallenge, cardChallenge);
    return {
      verifyCardCryptogram: async (c: Buffer) => macEquals(cardCryptogram(keys, hostChallenge, cardChallenge), c),
      wrapCommand: async (counter: number, header: SmHeader, plaintext: readonly SealPart[]) =>
        smWrapCommand(keys, counter, header, this.assemble(plaintext)),
      unwrapResponse: async (counter: number, data: Buffer, sw: number) => smUnwrapResponse(keys, counter, data, sw),
    };
  }

  async sealListForCardKey(cardKey: KeyRef, r: ListSealRequest): Promise<SealedList> {
    if (r.keyVersion === TRANSPORT_KEY_VERSION)
      throw new AppError('KEY_INVALID', 'Lists cannot be sealed under a transport key. Personalise the card first.');
    const k = this.key(cardKey);
    const keys = envelopeKeysFromCardKey(k, r.cardId, r.listSeq);
    const envelope = sealEnvelope(
      { type: ENVELOPE_CARD_KEY, keyVersion: r.keyVersion, cardId: r.cardId, listSeq: r.listSeq },
      keys,
      r.signedList,
    );
    return { envelope, receiptKey: this.importAesKey(deriveReceiptKey(k, r.cardId, r.listSeq)) };
  }

  async sealListForPublicKey(pub: RsaPublicKeyBytes, r: ListSealRequest): Promise<SealedList> {
    const p = randomBytes(WRAPPED_SECRET_LENGTH);
    const keys = envelopeKeysFromSecret(p);
    const wrapped = wrapSecretForCard(rsaPublicKeyFrom(pub.modulus, pub.exponent), p);
    const envelope = sealEnvelope(
      { type: ENVELOPE_PUBLIC_KEY, keyVersion: 0, cardId: r.cardId, listSeq: r.listSeq },
      keys,
      r.signedList,
      wrapped,
    );
    const receiptKey = this.importAesKey(deriveReceiptKey(keys.mac, r.cardId, r.listSeq));
    p.fill(0);
    return { envelope, receiptKey };
  }

  async verifyReceipt(receiptKey: KeyRef, message: Buffer, mac: Buffer): Promise<boolean> {
    return macEquals(aesCmac(this.key(receiptKey), message), mac);
  }

  async signList(issuerKey: KeyRef, body: Buffer): Promise<Buffer> {
    return ecdsaSign(this.issuer(issuerKey).privateKey, body);
  }

  async issuerCredential(issuerKey: KeyRef): Promise<IssuerCredential> {
    return this.issuer(issuerKey).credential;
  }

  async verifyChallengeResponse(cardKey: KeyRef, cardId: Buffer, message: Buffer, response: Buffer): Promise<boolean> {
    return macEquals(aesCmac(deriveChallengeKey(this.key(cardKey), cardId), message), response);
  }

  private issuer(ref: KeyRef): { privateKey: KeyObject; credential: IssuerCredential } {
    const i = this.issuers.get(ref.keyId);
    if (!i) throw new AppError('KEY_NOT_FOUND', 'The issuer key handle is unknown. Unlock the keystore and retry.');
    return i;
  }
}

/** CA side (tests, training): the CA's signature certifying an issuer public key. */
export function certifyIssuerKey(caPrivateKey: KeyObject, issuerPublicKey: Buffer): Buffer {
  return ecdsaSign(caPrivateKey, issuerKeyMessage(issuerPublicKey));
}

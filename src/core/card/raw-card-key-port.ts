import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { aesCmac } from '../crypto/aes-cmac';
import { kdfCounterCmac } from '../crypto/sp800-108';
import { buildCodeListBody, listSecretKdfInput, type CodeListSpec } from './protocol/list-codes';
import { AppError } from '../errors';
import type {
  CardKeyPort,
  IssuerCredential,
  IssuedList,
  KeyRef,
  ListSealMode,
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
  sha256,
  WRAPPED_SECRET_LENGTH,
  wrapSecretForCard,
} from './protocol/list-envelope';
import { encodeListBody, encodeSignedList, issuerKeyMessage } from './protocol/list-format';
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
  private readonly sealedFor = new Map<string, string>();

  /** `listMaster` stands for the keystore's master key in the list-secret derivation (AES-256). */
  constructor(private readonly listMaster: Buffer = randomBytes(32)) {}

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

  /**
   * The keystore's issueCodeList over raw bytes: the list secret comes from this port's list master
   * key by the keystore's formula (list-codes.ts), so tests can recompute the codes with codesOf.
   */
  async issueList(issuerKey: KeyRef, spec: CodeListSpec, seal: ListSealMode): Promise<IssuedList> {
    const issuer = this.issuer(issuerKey);
    if (seal.mode === 'card-key' && seal.keyVersion === TRANSPORT_KEY_VERSION)
      throw new AppError('KEY_INVALID', 'Lists cannot be sealed under a transport key. Personalise the card first.');
    const sealedFor =
      seal.mode === 'card-key'
        ? `card:${seal.cardKey.keyId}`
        : `rsa:${createHash('sha256')
            .update(
              rsaPublicKeyFrom(seal.cardPublicKey.modulus, seal.cardPublicKey.exponent).export({
                format: 'der',
                type: 'spki',
              }),
            )
            .digest('hex')}`;
    const body = encodeListBody(buildCodeListBody(this.listSecret(spec, sealedFor), spec));
    const signedList = encodeSignedList({
      body,
      issuerPublicKey: issuer.credential.publicKey,
      caSignature: issuer.credential.caSignature,
      issuerSignature: ecdsaSign(issuer.privateKey, body),
    });
    let envelope: Buffer;
    let receiptKey: KeyRef;
    if (seal.mode === 'card-key') {
      const k = this.key(seal.cardKey);
      envelope = sealEnvelope(
        { type: ENVELOPE_CARD_KEY, keyVersion: seal.keyVersion, cardId: spec.cardId, listSeq: spec.listSeq },
        envelopeKeysFromCardKey(k, spec.cardId, spec.listSeq),
        signedList,
      );
      receiptKey = this.importAesKey(deriveReceiptKey(k, spec.cardId, spec.listSeq));
    } else {
      const p = randomBytes(WRAPPED_SECRET_LENGTH);
      const keys = envelopeKeysFromSecret(p);
      const wrapped = wrapSecretForCard(rsaPublicKeyFrom(seal.cardPublicKey.modulus, seal.cardPublicKey.exponent), p);
      envelope = sealEnvelope(
        { type: ENVELOPE_PUBLIC_KEY, keyVersion: 0, cardId: spec.cardId, listSeq: spec.listSeq },
        keys,
        signedList,
        wrapped,
      );
      receiptKey = this.importAesKey(deriveReceiptKey(keys.mac, spec.cardId, spec.listSeq));
      p.fill(0);
    }
    this.sealedFor.set(spec.listId.toString('hex'), sealedFor);
    return { envelope, receiptKey, listId: Buffer.from(spec.listId), bodyHash: sha256(body), mkVersion: 0, sealedFor };
  }

  /** Tests only: the codes of a list this port issued (it holds its list master key in clear). */
  codesOf(spec: CodeListSpec): string[] {
    const sealedFor = this.sealedFor.get(spec.listId.toString('hex'));
    if (sealedFor === undefined) throw new AppError('KEY_NOT_FOUND', 'This port did not issue that list.');
    return buildCodeListBody(this.listSecret(spec, sealedFor), spec).entries.map((e) => e.code);
  }

  private listSecret(spec: CodeListSpec, sealedFor: string): Buffer {
    return kdfCounterCmac(this.listMaster, listSecretKdfInput(spec, sealedFor));
  }

  async verifyReceipt(receiptKey: KeyRef, message: Buffer, mac: Buffer): Promise<boolean> {
    return macEquals(aesCmac(this.key(receiptKey), message), mac);
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

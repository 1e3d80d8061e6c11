import type { SmHeader } from './protocol/sm-crypto';

/**
 * The crypto the host-side card protocol needs, in terms of opaque key handles. The keystore
 * implements it (key bytes never leave it); raw-card-key-port.ts implements it over plain bytes
 * for tests and the training mode. Formats are docs/card-profile.md sections 6 and 7.
 */

/** A handle to a key held by the keystore. Carries no key material. */
export interface KeyRef {
  readonly keyId: string;
}

/**
 * Plaintext of a secure-messaging command, assembled inside the keystore: clear bytes, the
 * bytes of a key (personalisation, rotation) or its 3-byte check value.
 */
export type SealPart = Buffer | { readonly keyOf: KeyRef } | { readonly kcvOf: KeyRef };

/** One secure-messaging session; the protocol layer owns the command counter. */
export interface SmSessionCrypto {
  /** True when the card's cryptogram from OPEN SESSION proves it holds the same key. */
  verifyCardCryptogram(cryptogram: Buffer): Promise<boolean>;
  /** Command data field E || T for SM command number `counter`. */
  wrapCommand(counter: number, header: SmHeader, plaintext: readonly SealPart[]): Promise<Buffer>;
  /** Verified, decrypted response data; undefined when the R-MAC or padding does not verify. */
  unwrapResponse(counter: number, data: Buffer, sw: number): Promise<Buffer | undefined>;
}

export interface ListSealRequest {
  readonly cardId: Buffer;
  readonly listSeq: number;
  /** Version of the card key the envelope is for (type 01); 0 for public-key mode. */
  readonly keyVersion: number;
  /** encodeSignedList(...) output. */
  readonly signedList: Buffer;
}

export interface SealedList {
  readonly envelope: Buffer;
  /** Handle to the receipt key, to check the card's commit receipt with verifyReceipt. */
  readonly receiptKey: KeyRef;
}

export interface IssuerCredential {
  /** Uncompressed P-256 point. */
  readonly publicKey: Buffer;
  /** CA signature (DER) over 01 || publicKey. */
  readonly caSignature: Buffer;
}

export interface RsaPublicKeyBytes {
  readonly modulus: Buffer;
  readonly exponent: Buffer;
}

export interface CardKeyPort {
  /** Session keys from the card key (or a blank card's transport key) and both challenges. */
  openSession(cardKey: KeyRef, hostChallenge: Buffer, cardChallenge: Buffer): Promise<SmSessionCrypto>;
  /** Envelope type 01: list encrypted and MACed under keys derived from the card key. */
  sealListForCardKey(cardKey: KeyRef, request: ListSealRequest): Promise<SealedList>;
  /** Envelope type 02: fresh P wrapped with RSA-OAEP under the card's own public key. */
  sealListForPublicKey(cardPublicKey: RsaPublicKeyBytes, request: ListSealRequest): Promise<SealedList>;
  verifyReceipt(receiptKey: KeyRef, message: Buffer, mac: Buffer): Promise<boolean>;
  /** ECDSA-SHA256 (DER) over a list body with the issuer key. */
  signList(issuerKey: KeyRef, body: Buffer): Promise<Buffer>;
  issuerCredential(issuerKey: KeyRef): Promise<IssuerCredential>;
  /** Checks a challenge-response MAC computed by the card with the challenge key derived from the card key. */
  verifyChallengeResponse(cardKey: KeyRef, cardId: Buffer, message: Buffer, response: Buffer): Promise<boolean>;
}

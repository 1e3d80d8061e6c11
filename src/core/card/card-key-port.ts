import type { CodeListSpec } from './protocol/list-codes';
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

/** The key a list is sealed for (profile 7.3): the card key K (type 01) or the card's own RSA key (type 02). */
export type ListSealMode =
  | {
      readonly mode: 'card-key';
      readonly cardKey: KeyRef;
      /** K's version on the card; the keystore takes it from the handle's series number. */
      readonly keyVersion: number;
    }
  | { readonly mode: 'public-key'; readonly cardPublicKey: RsaPublicKeyBytes };

/** A list made, signed and sealed by the port: what the push needs, never a code. */
export interface IssuedList {
  readonly envelope: Buffer;
  /** Handle to the receipt key, to check the card's commit receipt with verifyReceipt. */
  readonly receiptKey: KeyRef;
  readonly listId: Buffer;
  /** SHA-256 of the list body (profile 7.6). */
  readonly bodyHash: Buffer;
  /** What the issuer's database keeps to have a code checked later: the master key version and the sealing key's name. */
  readonly mkVersion: number;
  readonly sealedFor: string;
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
  /**
   * The list `spec` with code i = HOTP(list secret, i), signed with the issuer key and sealed for
   * `seal`, all inside the port (the keystore): the caller never sees a code (docs/keystore.md, "Code lists").
   */
  issueList(issuerKey: KeyRef, spec: CodeListSpec, seal: ListSealMode): Promise<IssuedList>;
  verifyReceipt(receiptKey: KeyRef, message: Buffer, mac: Buffer): Promise<boolean>;
  issuerCredential(issuerKey: KeyRef): Promise<IssuerCredential>;
  /** Checks a challenge-response MAC computed by the card with the challenge key derived from the card key. */
  verifyChallengeResponse(cardKey: KeyRef, cardId: Buffer, message: Buffer, response: Buffer): Promise<boolean>;
}

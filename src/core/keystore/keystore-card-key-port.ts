import { AppError } from '../errors';
import type {
  CardKeyPort, IssuerCredential, KeyRef, ListSealRequest, RsaPublicKeyBytes, SealedList, SealPart, SmSessionCrypto,
} from '../card/card-key-port';
import { encodeEnvelopeHeader, ENVELOPE_CARD_KEY, ENVELOPE_PUBLIC_KEY, rsaPublicKeyFrom } from '../card/protocol/list-envelope';
import { MAC_LENGTH, TRANSPORT_KEY_VERSION } from '../card/protocol/profile.constants';
import { counterBytes, padM2, unpadM2, type SmHeader } from '../card/protocol/sm-crypto';
import type { CardKeyHandle, CardKeyPlaintextPart, Keystore, SessionKeyHandle, SymmetricKeyHandle } from './keystore.types';

// The card protocol's CardKeyPort over the keystore: every key the card protocol names is a
// keystore handle behind an opaque KeyRef, and every operation on key bytes runs inside the
// keystore. Formats are docs/card-profile.md sections 6 and 7; raw-card-key-port.ts is the
// same behaviour over raw bytes and is what the card-side tests check this against.

const ZERO_IV = Buffer.alloc(16);
const KEY_LENGTH = 16;
const KCV_LENGTH = 3;

type Held = { readonly kind: 'symmetric'; readonly handle: SymmetricKeyHandle } | { readonly kind: 'issuer'; readonly version: number };

export class KeystoreCardKeyPort implements CardKeyPort {
  private readonly held = new Map<string, Held>();
  /** The SM session keys last opened under each base key: the card keeps one session, so the port does too. */
  private readonly smSessions = new Map<string, SessionKeyHandle[]>();
  private credential: { version: number; value: IssuerCredential } | undefined;

  constructor(private readonly keystore: Keystore) {}

  /** The current (or a named pending) card key for N. */
  async cardKey(n: string, sn?: number): Promise<KeyRef> {
    return this.cardKeyOf(await this.keystore.cardKey(n, sn));
  }

  /** A ref for a card handle the keystore gave out, e.g. the next key of prepareCardKeyRotation. */
  cardKeyOf(handle: CardKeyHandle): KeyRef {
    return this.hold(`card:${handle.mkVersion}/${handle.n}/${handle.sn}`, { kind: 'symmetric', handle });
  }

  /** A blank card's transport key (key version 0), derived from the vendor's transport master key. */
  async transportKey(cardId: Buffer): Promise<KeyRef> {
    return this.session(await this.keystore.transportKey(cardId));
  }

  /** The active issuer key S; a ref made before S was replaced is refused rather than silently re-pointed. */
  async issuerKey(): Promise<KeyRef> {
    const s = (await this.keystore.status()).issuerKey;
    if (!s) throw new AppError('KEYSTORE_NO_ISSUER_KEY', 'There is no issuer signing key yet. A security officer must create it.');
    return this.hold(`issuer:${s.version}`, { kind: 'issuer', version: s.version });
  }

  /** Releases a session key (transport key, receipt key) inside the keystore; card and issuer refs just drop. */
  async release(ref: KeyRef): Promise<void> {
    const held = this.held.get(ref.keyId);
    this.held.delete(ref.keyId);
    await this.releaseSmSession(ref.keyId);
    if (held?.kind === 'symmetric' && held.handle.kind === 'session') await this.keystore.release(held.handle);
  }

  async openSession(cardKey: KeyRef, hostChallenge: Buffer, cardChallenge: Buffer): Promise<SmSessionCrypto> {
    const base = this.symmetric(cardKey);
    await this.releaseSmSession(cardKey.keyId); // OPEN SESSION ended the card's previous one
    const ctx = Buffer.concat([hostChallenge, cardChallenge]);
    const enc = await this.keystore.deriveCardProfileKey(base, 'OTAC SM ENC', ctx);
    const mac = await this.keystore.deriveCardProfileKey(base, 'OTAC SM MAC', ctx);
    const rmac = await this.keystore.deriveCardProfileKey(base, 'OTAC SM RMAC', ctx);
    this.smSessions.set(cardKey.keyId, [enc, mac, rmac]);
    const ks = this.keystore;
    const icv = (counter: number, response: boolean) => {
      const block = Buffer.alloc(16);
      if (response) block[0] = 0x80;
      counterBytes(counter).copy(block, 12);
      return ks.encrypt(enc, ZERO_IV, block); // one CBC block under a zero IV is AES-ECB
    };
    return {
      verifyCardCryptogram: async (cryptogram) =>
        cryptogram.length === MAC_LENGTH && ks.verifyMac(mac, Buffer.concat([Buffer.from([0x01]), ctx]), cryptogram),
      wrapCommand: async (counter, header, plaintext) => {
        const e = plaintext.length === 0 ? Buffer.alloc(0) : await this.encryptPlaintext(enc, await icv(counter, false), plaintext);
        const t = await ks.mac(mac, Buffer.concat([counterBytes(counter), headerBytes(header), e]));
        return Buffer.concat([e, t]);
      },
      unwrapResponse: async (counter, data, sw) => {
        if (data.length < MAC_LENGTH || (data.length - MAC_LENGTH) % 16 !== 0) return undefined;
        const e = data.subarray(0, data.length - MAC_LENGTH);
        const t = data.subarray(data.length - MAC_LENGTH);
        if (!(await ks.verifyMac(rmac, Buffer.concat([counterBytes(counter), e, Buffer.from([(sw >> 8) & 0xff, sw & 0xff])]), t))) return undefined;
        if (e.length === 0) return Buffer.alloc(0);
        return unpadM2(await ks.decrypt(enc, await icv(counter, true), e));
      },
    };
  }

  async sealListForCardKey(cardKey: KeyRef, r: ListSealRequest): Promise<SealedList> {
    if (r.keyVersion === TRANSPORT_KEY_VERSION) throw new AppError('KEY_INVALID', 'Lists cannot be sealed under a transport key. Personalise the card first.');
    const base = this.cardHandle(cardKey);
    const ctx = seqContext(r);
    const enc = await this.keystore.deriveCardProfileKey(base, 'OTAC list ENC', ctx);
    const mac = await this.keystore.deriveCardProfileKey(base, 'OTAC list MAC', ctx);
    const header = encodeEnvelopeHeader({ type: ENVELOPE_CARD_KEY, keyVersion: r.keyVersion, cardId: r.cardId, listSeq: r.listSeq });
    try {
      const envelope = await this.seal(enc, mac, [header], r.signedList);
      return { envelope, receiptKey: this.session(await this.keystore.deriveCardProfileKey(base, 'OTAC receipt', ctx)) };
    } finally {
      await this.keystore.release(enc);
      await this.keystore.release(mac);
    }
  }

  async sealListForPublicKey(pub: RsaPublicKeyBytes, r: ListSealRequest): Promise<SealedList> {
    const spki = rsaPublicKeyFrom(pub.modulus, pub.exponent).export({ format: 'der', type: 'spki' });
    const { enc, mac, wrapped } = await this.keystore.generateWrappedListKeys(spki);
    const header = encodeEnvelopeHeader({ type: ENVELOPE_PUBLIC_KEY, keyVersion: 0, cardId: r.cardId, listSeq: r.listSeq });
    const wrappedLength = Buffer.alloc(2);
    wrappedLength.writeUInt16BE(wrapped.length);
    try {
      const envelope = await this.seal(enc, mac, [header, wrappedLength, wrapped], r.signedList);
      return { envelope, receiptKey: this.session(await this.keystore.deriveCardProfileKey(mac, 'OTAC receipt', seqContext(r))) };
    } finally {
      await this.keystore.release(enc);
      await this.keystore.release(mac);
    }
  }

  async verifyReceipt(receiptKey: KeyRef, message: Buffer, mac: Buffer): Promise<boolean> {
    return mac.length === MAC_LENGTH && this.keystore.verifyMac(this.symmetric(receiptKey), message, mac);
  }

  async signList(issuerKey: KeyRef, body: Buffer): Promise<Buffer> {
    await this.activeIssuer(issuerKey);
    return this.keystore.sign(body, 'der');
  }

  async issuerCredential(issuerKey: KeyRef): Promise<IssuerCredential> {
    const version = await this.activeIssuer(issuerKey);
    if (this.credential?.version !== version) this.credential = { version, value: await this.keystore.issuerCardCredential() };
    return this.credential.value;
  }

  async verifyChallengeResponse(cardKey: KeyRef, cardId: Buffer, message: Buffer, response: Buffer): Promise<boolean> {
    const ck = await this.keystore.deriveCardProfileKey(this.cardHandle(cardKey), 'OTAC challenge', cardId);
    try {
      return response.length === MAC_LENGTH && (await this.keystore.verifyMac(ck, message, response));
    } finally {
      await this.keystore.release(ck);
    }
  }

  /** E of an SM command: key parts are put in place by the keystore; KCVs are public and come from the handle. */
  private async encryptPlaintext(enc: SessionKeyHandle, iv: Buffer, plaintext: readonly SealPart[]): Promise<Buffer> {
    const parts: CardKeyPlaintextPart[] = plaintext.map((p) =>
      Buffer.isBuffer(p) ? p : 'keyOf' in p ? this.cardHandle(p.keyOf) : Buffer.from(this.symmetric(p.kcvOf).kcv, 'hex').subarray(0, KCV_LENGTH),
    );
    const length = parts.reduce((n, p) => n + (p instanceof Uint8Array ? p.length : KEY_LENGTH), 0);
    const padding = padM2(Buffer.alloc(0)).subarray(0, 16 - (length % 16));
    if (parts.every((p) => p instanceof Uint8Array)) return this.keystore.encrypt(enc, iv, Buffer.concat([...(parts as Uint8Array[]), padding]));
    return this.keystore.encryptWithCardKeys(enc, iv, [...parts, padding]);
  }

  /** header parts || C || M with C = AES-CBC(E-ENC, zero IV, pad(signed list)), M = CMAC(E-MAC, everything before). */
  private async seal(enc: SessionKeyHandle, mac: SessionKeyHandle, head: Buffer[], signedList: Buffer): Promise<Buffer> {
    const body = Buffer.concat([...head, await this.keystore.encrypt(enc, ZERO_IV, padM2(signedList))]);
    return Buffer.concat([body, await this.keystore.mac(mac, body)]);
  }

  private async releaseSmSession(keyId: string): Promise<void> {
    const keys = this.smSessions.get(keyId);
    this.smSessions.delete(keyId);
    for (const k of keys ?? []) await this.keystore.release(k);
  }

  private async activeIssuer(ref: KeyRef): Promise<number> {
    const held = this.held.get(ref.keyId);
    if (held?.kind !== 'issuer') throw unknownRef();
    if ((await this.keystore.status()).issuerKey?.version !== held.version) {
      throw new AppError('KEY_REPLACED', 'The issuer key was replaced since this operation began. Prepare the list again.');
    }
    return held.version;
  }

  private session(handle: SessionKeyHandle): KeyRef {
    return this.hold(`session:${handle.id}`, { kind: 'symmetric', handle });
  }

  private hold(keyId: string, held: Held): KeyRef {
    this.held.set(keyId, held);
    return { keyId };
  }

  private symmetric(ref: KeyRef): SymmetricKeyHandle {
    const held = this.held.get(ref.keyId);
    if (held?.kind !== 'symmetric') throw unknownRef();
    return held.handle;
  }

  private cardHandle(ref: KeyRef): CardKeyHandle {
    const h = this.symmetric(ref);
    if (h.kind !== 'card') throw new AppError('KEY_INVALID', 'That operation needs a card key, not a session key. Use the card key of this card.');
    return h;
  }
}

function headerBytes(h: SmHeader): Buffer {
  return Buffer.from([h.cla & ~0x10 & 0xff, h.ins, h.p1, h.p2]); // chained pieces are MACed as CLA 84
}

function seqContext(r: ListSealRequest): Buffer {
  return Buffer.concat([r.cardId, counterBytes(r.listSeq)]);
}

function unknownRef(): AppError {
  return new AppError('KEY_NOT_FOUND', 'The key handle is unknown or was released. Start the operation again.');
}

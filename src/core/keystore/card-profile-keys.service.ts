import { constants, createPublicKey, publicEncrypt, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { encodeEnvelopeHeader, ENVELOPE_CARD_KEY, ENVELOPE_PUBLIC_KEY } from '../card/protocol/list-envelope';
import {
  CARD_ID_LENGTH,
  CHALLENGE_LENGTH,
  INS,
  KCV_LENGTH,
  MAC_LENGTH,
  TRANSPORT_KEY_VERSION,
} from '../card/protocol/profile.constants';
import { counterBytes, padM2, unpadM2 } from '../card/protocol/sm-crypto';
import type { CounterKdfInput } from '../crypto/sp800-108';
import { kcvAes } from '../crypto/kcv';
import { AppError } from '../errors';
import { wrongUse, type CardKeyService } from './card-key.service';
import type { KeyRef, KeystoreBackend } from './keystore-backend';
import type {
  AuditSink,
  CardKeyHandle,
  EphemeralHandle,
  ListSealInput,
  ReceiptKeyHandle,
  SealedListEnvelope,
  SecureSessionHandle,
  SmCommandHeader,
  SmCommandPart,
  TransportKeyHandle,
  TransportKeyInfo,
} from './keystore.types';
import { aesKcv, type KeyRegistry } from './key-registry';

// The OTAC card profile (docs/card-profile.md 1.2, 6, 7) inside the keystore. Every key made here
// has one use, recorded when it is made and checked at every call: a transport key opens secure
// sessions; a session's S-ENC/S-MAC/S-RMAC wrap commands and unwrap responses of that session only;
// list keys seal one envelope and are destroyed; a receipt key verifies receipts; a challenge key
// verifies one response. None of them has a handle that reaches a generic encrypt, MAC or wrap,
// and none is extractable (docs/keystore.md, "Key material leaves in exactly two ways").

/** Never extractable, never wraps: every use below is encrypt, decrypt or CMAC inside the backend. */
const INSIDE = { persistent: false, extractable: false } as const;
const TRANSPORT_LABEL = 'OTAC transport';
const ZERO_IV = Buffer.alloc(16);
const KEY_LENGTH = 16;

/** Profile 1.2: KDF(K, label, context) = CMAC(K, [1]_32 || label || 00 || context || [128]_32). */
export function cardProfileKdfInput(label: string, context: Uint8Array): CounterKdfInput {
  return {
    counterBits: 32,
    lengthBits: 128,
    after: Buffer.concat([Buffer.from(label, 'ascii'), Buffer.from([0]), context, Buffer.from([0, 0, 0, 128])]),
  };
}

/** A removal with no transport key loaded (also refused by the Keys channel before any approval). */
export function noTransportKey(): AppError {
  return new AppError('TRANSPORT_KEY_NONE', 'There is no vendor transport key on this desk; nothing was changed.');
}

type SessionBase = { readonly kind: 'card'; readonly card: CardKeyHandle } | { readonly kind: 'transport' };

/** What each ephemeral handle id stands for. The `use` is fixed here, at creation. */
type Held =
  | { readonly use: 'transport'; readonly ref: KeyRef }
  | {
      readonly use: 'sm-session';
      readonly base: SessionBase;
      readonly enc: KeyRef;
      readonly mac: KeyRef;
      readonly rmac: KeyRef;
      readonly ctx: Buffer;
    }
  | { readonly use: 'receipt'; readonly ref: KeyRef };

type Use = Held['use'];

export class CardProfileKeyService {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly backend: KeystoreBackend,
    private readonly registry: KeyRegistry,
    private readonly cards: CardKeyService,
    private readonly audit: AuditSink,
  ) {}

  /**
   * VTMK, at a ceremony under dual control: whoever knows the VTMK can open every PERSONALISE, so
   * one person alone must not choose it. Development stock's well-known key comes in this way too.
   * With `expectedKcv` (the vendor's sheet; the transport ceremony always passes it) a mismatch stores
   * nothing. A previous VTMK is retired and its key destroyed: only the active one ever opens a card.
   */
  async importTransportMasterKey(
    value: Uint8Array,
    opts: { officer: string; approver: string; reason: string; expectedKcv?: string },
  ): Promise<TransportKeyInfo> {
    const { officer, approver } = this.twoOfficers(opts, 'import');
    if (!(value instanceof Uint8Array) || value.length !== KEY_LENGTH) {
      throw new AppError(
        'KEY_INVALID',
        "The vendor transport master key is AES-128 (16 bytes). Check the vendor's key sheet.",
      );
    }
    const clear = Buffer.from(value);
    try {
      if (clear.every((b) => b === 0)) {
        this.audit('keystore.transport_key.import_refused', { officer, approver, reason: 'weak_key' });
        throw new AppError(
          'KEY_INVALID',
          "The combined vendor transport key is all zeros: a component was typed twice or is wrong. Check the vendor's sheets; nothing was stored.",
        );
      }
      const kcv = kcvAes(clear);
      if (opts.expectedKcv !== undefined && opts.expectedKcv.trim().toUpperCase() !== kcv) {
        this.audit('keystore.transport_key.import_refused', { officer, approver, kcv, reason: 'kcv_mismatch' });
        throw new AppError(
          'CEREMONY_KCV_MISMATCH',
          "The combined transport key does not match the check value on the vendor's sheet. Check each component with its officer; nothing was stored.",
        );
      }
      const previous = this.registry.active('transport');
      const ref = this.backend.importAes(clear, { persistent: true, extractable: false });
      const rec = this.registry.add(
        { id: ref, purpose: 'transport', kcv: aesKcv(this.backend, ref), algorithm: 'AES-128', origin: 'imported' },
        'retired',
      );
      await this.registry.commit();
      if (previous) await this.destroyStored(previous.id);
      this.audit('keystore.transport_key.imported', {
        officer,
        approvedBy: approver,
        reason: opts.reason,
        kcv: rec.kcv,
        version: rec.version,
        ...(previous ? { replacedVersion: previous.version, replacedKcv: previous.kcv } : {}),
      });
      return { kcv: rec.kcv, version: rec.version };
    } finally {
      clear.fill(0);
    }
  }

  /** Dual control like the import: the desk stops opening blank cards until a key is imported again. */
  async removeTransportMasterKey(opts: {
    officer: string;
    approver: string;
    reason: string;
  }): Promise<{ removed: TransportKeyInfo }> {
    const { officer, approver } = this.twoOfficers(opts, 'remove');
    const current = this.registry.retireActive('transport');
    if (!current) throw noTransportKey();
    await this.registry.commit();
    await this.destroyStored(current.id);
    this.audit('keystore.transport_key.removed', {
      officer,
      approvedBy: approver,
      reason: opts.reason,
      kcv: current.kcv,
      version: current.version,
    });
    return { removed: { kcv: current.kcv, version: current.version } };
  }

  /** Two different named officers (trimmed, case-insensitive), else refused and audited with nothing changed. */
  private twoOfficers(opts: { officer?: unknown; approver?: unknown }, what: 'import' | 'remove') {
    const officer = typeof opts?.officer === 'string' ? opts.officer.trim() : '';
    const approver = typeof opts?.approver === 'string' ? opts.approver.trim() : '';
    if (officer === '' || approver === '' || officer.toLowerCase() === approver.toLowerCase()) {
      this.audit(`keystore.transport_key.${what}_refused`, { officer, approver, reason: 'dual_control' });
      throw new AppError(
        'APPROVAL_REQUIRED',
        what === 'import'
          ? 'Importing the vendor transport master key needs two security officers: one enters it, a different one approves. Ask a second officer.'
          : 'Removing the vendor transport master key needs two security officers: one removes it, a different one approves. Ask a second officer.',
      );
    }
    return { officer, approver };
  }

  /** A retired VTMK never serves again, so its key goes; the committed key list no longer holds it. */
  private async destroyStored(ref: KeyRef): Promise<void> {
    this.backend.destroy(ref);
    await this.registry.commit();
  }

  transportKey(cardId: Uint8Array): TransportKeyHandle {
    if (!(cardId instanceof Uint8Array) || cardId.length !== CARD_ID_LENGTH)
      throw new AppError('CARD_ID_INVALID', 'A card id is 8 bytes. Read the card again.');
    const vtmk = this.registry.active('transport');
    if (!vtmk) {
      throw new AppError(
        'KEYSTORE_NO_TRANSPORT_KEY',
        "There is no vendor transport key, so blank cards cannot be opened. Two security officers load the card vendor's key on the Keys page (Vendor transport key).",
      );
    }
    const ref = this.backend.deriveAes(vtmk.id, cardProfileKdfInput(TRANSPORT_LABEL, cardId), INSIDE);
    const id = this.hold({ use: 'transport', ref });
    return { kind: 'transport', id, kcv: aesKcv(this.backend, ref) };
  }

  async openSession(
    base: CardKeyHandle | TransportKeyHandle,
    hostChallenge: Uint8Array,
    cardChallenge: Uint8Array,
  ): Promise<SecureSessionHandle> {
    if (
      !(hostChallenge instanceof Uint8Array) ||
      !(cardChallenge instanceof Uint8Array) ||
      hostChallenge.length !== CHALLENGE_LENGTH ||
      cardChallenge.length !== CHALLENGE_LENGTH
    ) {
      throw new AppError(
        'CRYPTO_BAD_INPUT',
        `Both challenges are ${CHALLENGE_LENGTH} bytes (card profile 6). Open the session again.`,
      );
    }
    let parent: KeyRef;
    let sessionBase: SessionBase;
    if (base?.kind === 'transport') {
      parent = this.take(base, 'transport').ref;
      sessionBase = { kind: 'transport' };
    } else {
      parent = await this.cards.ref(base);
      sessionBase = { kind: 'card', card: { ...base } };
    }
    const ctx = Buffer.concat([hostChallenge, cardChallenge]);
    const derive = (label: string) => this.backend.deriveAes(parent, cardProfileKdfInput(label, ctx), INSIDE);
    const held = {
      use: 'sm-session',
      base: sessionBase,
      enc: derive('OTAC SM ENC'),
      mac: derive('OTAC SM MAC'),
      rmac: derive('OTAC SM RMAC'),
      ctx,
    } as const;
    return { kind: 'sm-session', id: this.hold(held), base: sessionBase.kind };
  }

  async verifyCardCryptogram(session: SecureSessionHandle, cryptogram: Uint8Array): Promise<boolean> {
    const s = await this.session(session);
    return this.macMatches(s.mac, Buffer.concat([Buffer.from([0x01]), s.ctx]), cryptogram);
  }

  /** Profile 6.3: E = AES-CBC(S-ENC, ICV, pad(plaintext)), T = CMAC(S-MAC, counter || header || E). */
  async wrapCommand(
    session: SecureSessionHandle,
    counter: number,
    header: SmCommandHeader,
    parts: readonly SmCommandPart[],
  ): Promise<Buffer> {
    const s = await this.session(session);
    checkCounter(counter);
    const h = checkHeader(header);
    const keys = await this.keyParts(s.base, h, parts);
    const length = parts.reduce(
      (n, p) => n + (p instanceof Uint8Array ? p.length : 'keyOf' in p ? KEY_LENGTH : KCV_LENGTH),
      0,
    );
    let e: Buffer = Buffer.alloc(0);
    if (length > 0) {
      const plain = Buffer.alloc(length + (16 - (length % 16)));
      try {
        let offset = 0;
        for (const p of parts) {
          if (p instanceof Uint8Array) plain.set(p, offset);
          else if ('keyOf' in p) await this.cards.withKeyBytes(p.keyOf, (k) => k.copy(plain, offset));
          else Buffer.from(await this.cards.kcv(p.kcvOf), 'hex').copy(plain, offset, 0, KCV_LENGTH); // the keystore's KCV, not the handle's
          offset += p instanceof Uint8Array ? p.length : 'keyOf' in p ? KEY_LENGTH : KCV_LENGTH;
        }
        plain[length] = 0x80; // ISO 9797-1 method 2
        e = this.backend.aesCbc(s.enc, 'encrypt', this.icv(s.enc, counter, false), plain);
      } finally {
        plain.fill(0);
      }
    }
    const t = this.backend.cmac(
      s.mac,
      Buffer.concat([counterBytes(counter), Buffer.from([h.cla & ~0x10 & 0xff, h.ins, h.p1, h.p2]), e]),
    );
    for (const k of keys) {
      this.audit(h.ins === INS.PERSONALISE ? 'keystore.card_key.personalised' : 'keystore.card_key.rotation_sent', {
        n: k.n,
        sn: k.sn,
        kcv: await this.cards.kcv(k),
      });
    }
    return Buffer.concat([e, t]);
  }

  async unwrapResponse(
    session: SecureSessionHandle,
    counter: number,
    data: Uint8Array,
    sw: number,
  ): Promise<Buffer | undefined> {
    const s = await this.session(session);
    checkCounter(counter);
    if (!(data instanceof Uint8Array) || data.length < MAC_LENGTH || (data.length - MAC_LENGTH) % 16 !== 0)
      return undefined;
    const e = data.subarray(0, data.length - MAC_LENGTH);
    const t = data.subarray(data.length - MAC_LENGTH);
    if (
      !this.macMatches(s.rmac, Buffer.concat([counterBytes(counter), e, Buffer.from([(sw >> 8) & 0xff, sw & 0xff])]), t)
    )
      return undefined;
    if (e.length === 0) return Buffer.alloc(0);
    return unpadM2(this.backend.aesCbc(s.enc, 'decrypt', this.icv(s.enc, counter, true), e));
  }

  async sealForCardKey(card: CardKeyHandle, r: ListSealInput): Promise<SealedListEnvelope> {
    checkSealInput(r);
    if (r.keyVersion === TRANSPORT_KEY_VERSION)
      throw new AppError('KEY_INVALID', 'Lists cannot be sealed under a transport key. Personalise the card first.');
    const k = await this.cards.ref(card);
    const ctx = seqContext(r);
    const enc = this.backend.deriveAes(k, cardProfileKdfInput('OTAC list ENC', ctx), INSIDE);
    const mac = this.backend.deriveAes(k, cardProfileKdfInput('OTAC list MAC', ctx), INSIDE);
    try {
      const header = encodeEnvelopeHeader({
        type: ENVELOPE_CARD_KEY,
        keyVersion: r.keyVersion,
        cardId: Buffer.from(r.cardId),
        listSeq: r.listSeq,
      });
      const envelope = this.seal(enc, mac, [header], r.signedList);
      const receipt = this.backend.deriveAes(k, cardProfileKdfInput('OTAC receipt', ctx), INSIDE);
      return { envelope, receiptKey: { kind: 'receipt', id: this.hold({ use: 'receipt', ref: receipt }) } };
    } finally {
      this.backend.destroy(enc);
      this.backend.destroy(mac);
    }
  }

  /**
   * P is drawn in keystore memory and imported as two keys: SoftHSM cannot split one 32-byte key
   * (no CKM_EXTRACT_KEY_FROM_KEY). P is fresh for this list and leaves only under the card's RSA key.
   */
  sealForPublicKey(cardPublicKeySpkiDer: Uint8Array, r: ListSealInput): SealedListEnvelope {
    checkSealInput(r);
    let key;
    try {
      key = createPublicKey({ key: Buffer.from(cardPublicKeySpkiDer), format: 'der', type: 'spki' });
    } catch {
      throw new AppError('KEY_BAD_PUBLIC_KEY', 'The card public key could not be read. Read it from the card again.');
    }
    if (key.asymmetricKeyType !== 'rsa')
      throw new AppError('KEY_BAD_PUBLIC_KEY', 'The card public key is not an RSA key. Read it from the card again.');
    const p = randomBytes(32);
    let enc: KeyRef | undefined;
    let mac: KeyRef | undefined;
    try {
      const wrapped = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, p);
      enc = this.backend.importAes(p.subarray(0, 16), INSIDE);
      mac = this.backend.importAes(p.subarray(16), INSIDE);
      const header = encodeEnvelopeHeader({
        type: ENVELOPE_PUBLIC_KEY,
        keyVersion: 0,
        cardId: Buffer.from(r.cardId),
        listSeq: r.listSeq,
      });
      const wrappedLength = Buffer.alloc(2);
      wrappedLength.writeUInt16BE(wrapped.length);
      const envelope = this.seal(enc, mac, [header, wrappedLength, wrapped], r.signedList);
      const receipt = this.backend.deriveAes(mac, cardProfileKdfInput('OTAC receipt', seqContext(r)), INSIDE);
      return { envelope, receiptKey: { kind: 'receipt', id: this.hold({ use: 'receipt', ref: receipt }) } };
    } finally {
      p.fill(0);
      if (enc) this.backend.destroy(enc);
      if (mac) this.backend.destroy(mac);
    }
  }

  verifyReceipt(receiptKey: ReceiptKeyHandle, message: Uint8Array, mac: Uint8Array): boolean {
    return this.macMatches(this.take(receiptKey, 'receipt').ref, message, mac);
  }

  async verifyChallengeResponse(
    card: CardKeyHandle,
    cardId: Uint8Array,
    message: Uint8Array,
    response: Uint8Array,
  ): Promise<boolean> {
    if (!(cardId instanceof Uint8Array) || cardId.length !== CARD_ID_LENGTH)
      throw new AppError('CARD_ID_INVALID', 'A card id is 8 bytes. Read the card again.');
    const ck = this.backend.deriveAes(
      await this.cards.ref(card),
      cardProfileKdfInput('OTAC challenge', cardId),
      INSIDE,
    );
    try {
      return this.macMatches(ck, message, response);
    } finally {
      this.backend.destroy(ck);
    }
  }

  release(handle: EphemeralHandle): void {
    const held = typeof handle?.id === 'string' ? this.held.get(handle.id) : undefined;
    if (!held || held.use !== handle.kind) return;
    this.held.delete(handle.id);
    for (const ref of held.use === 'sm-session' ? [held.enc, held.mac, held.rmac] : [held.ref])
      this.backend.destroy(ref);
  }

  clear(): void {
    for (const [id, held] of this.held) this.release({ kind: held.use, id } as EphemeralHandle);
    this.held.clear();
  }

  /**
   * Which card keys a command may carry, decided by the session's base and the command's INS:
   * - PERSONALISE (E0) under a transport session: exactly one card key, at its card's current SN.
   * - ROTATE KEY (D2) under a session of card N's current K: exactly [K', KCV(K')] with K' the
   *   pending key of N and P1 its series number.
   * Every other command, and every other combination, carries clear bytes only.
   */
  private async keyParts(
    base: SessionBase,
    h: SmCommandHeader,
    parts: readonly SmCommandPart[],
  ): Promise<CardKeyHandle[]> {
    if (!isList(parts)) throw new AppError('CRYPTO_BAD_INPUT', 'The command plaintext must be a list of parts.');
    const keyed = parts.filter((p) => !(p instanceof Uint8Array));
    for (const p of keyed) {
      const named: unknown =
        p !== null && typeof p === 'object' ? ('keyOf' in p ? p.keyOf : 'kcvOf' in p ? p.kcvOf : null) : null;
      if (named === null || typeof named !== 'object' || (named as { kind?: unknown }).kind !== 'card')
        throw new AppError('CRYPTO_BAD_INPUT', 'A command part is bytes, a card key or its check value.');
    }
    if (keyed.length === 0) return [];
    const refuse = () => {
      this.audit('keystore.card_key.export_refused', { what: 'sm_command', ins: h.ins, base: base.kind });
      return new AppError(
        'KEY_WRONG_USE',
        "A card key goes only into PERSONALISE under the blank card's transport session, or as the pending key in ROTATE KEY under the card's current key. Check the command.",
      );
    };
    if (h.ins === INS.PERSONALISE && base.kind === 'transport') {
      const [p] = keyed;
      if (keyed.length !== 1 || !p || !('keyOf' in p)) throw refuse();
      const state = await this.cards.state(p.keyOf.n);
      if (p.keyOf.sn !== state.sn || p.keyOf.mkVersion !== state.mkVersion) throw refuse();
      await this.cards.ref(p.keyOf);
      return [p.keyOf];
    }
    if (h.ins === INS.ROTATE_KEY && base.kind === 'card') {
      const [a, b] = parts;
      if (
        parts.length !== 2 ||
        !a ||
        !b ||
        a instanceof Uint8Array ||
        b instanceof Uint8Array ||
        !('keyOf' in a) ||
        !('kcvOf' in b)
      )
        throw refuse();
      const next = a.keyOf;
      const current = base.card;
      const state = await this.cards.state(current.n);
      const sameKey = (x: CardKeyHandle, y: CardKeyHandle) =>
        x.n === y.n && x.sn === y.sn && x.mkVersion === y.mkVersion;
      if (
        !sameKey(next, b.kcvOf) ||
        next.n !== current.n ||
        current.sn !== state.sn ||
        current.mkVersion !== state.mkVersion ||
        next.sn !== state.pendingSn ||
        h.p1 !== (next.sn & 0xff)
      )
        throw refuse();
      await this.cards.ref(current); // still current: a retired session base is refused
      await this.cards.ref(next);
      return [next];
    }
    throw refuse();
  }

  /** header parts || C || M with C = AES-CBC(E-ENC, zero IV, pad(signed list)), M = CMAC(E-MAC, everything before). */
  private seal(enc: KeyRef, mac: KeyRef, head: Buffer[], signedList: Uint8Array): Buffer {
    const body = Buffer.concat([...head, this.backend.aesCbc(enc, 'encrypt', ZERO_IV, padM2(Buffer.from(signedList)))]);
    return Buffer.concat([body, this.backend.cmac(mac, body)]);
  }

  /** ICV = AES-ECB(S-ENC, [80 for responses] || 0… || counter): one CBC block under a zero IV. */
  private icv(enc: KeyRef, counter: number, response: boolean): Buffer {
    const block = Buffer.alloc(16);
    if (response) block[0] = 0x80;
    counterBytes(counter).copy(block, 12);
    return this.backend.aesCbc(enc, 'encrypt', ZERO_IV, block);
  }

  private macMatches(ref: KeyRef, data: Uint8Array, tag: Uint8Array): boolean {
    if (!(data instanceof Uint8Array) || !(tag instanceof Uint8Array) || tag.length !== MAC_LENGTH) return false;
    return timingSafeEqual(this.backend.cmac(ref, data), tag);
  }

  /** A session under a card key lives only as long as that key: a retired K closes its sessions. */
  private async session(handle: SecureSessionHandle): Promise<Extract<Held, { use: 'sm-session' }>> {
    const s = this.take(handle, 'sm-session');
    if (s.base.kind === 'card') await this.cards.ref(s.base.card);
    return s;
  }

  private hold(held: Held): string {
    const id = randomUUID();
    this.held.set(id, held);
    return id;
  }

  /** The entry behind a handle, only when it was made for `use`. */
  private take<U extends Use>(
    handle: { readonly kind?: unknown; readonly id?: unknown } | null | undefined,
    use: U,
  ): Extract<Held, { use: U }> {
    const held =
      handle && typeof handle === 'object' && typeof handle.id === 'string' ? this.held.get(handle.id) : undefined;
    if (!held) {
      if (handle?.kind === use)
        throw new AppError(
          'KEY_NOT_FOUND',
          'The key handle is unknown or was released. Start the card operation again.',
        );
      throw wrongUse(USE_NAMES[use]);
    }
    if (held.use !== use || handle?.kind !== use) throw wrongUse(USE_NAMES[use]);
    return held as Extract<Held, { use: U }>;
  }
}

const USE_NAMES: Record<Use, string> = {
  transport: "a blank card's transport key",
  'sm-session': 'a secure-messaging session',
  receipt: "a sealed list's receipt key",
};

/** Array.isArray without its narrowing (which would turn a readonly typed list into any[]). */
function isList(x: unknown): boolean {
  return Array.isArray(x);
}

function checkCounter(counter: number): void {
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff)
    throw new AppError('CRYPTO_BAD_INPUT', 'The SM command counter is a 32-bit unsigned integer.');
}

function checkHeader(h: SmCommandHeader): SmCommandHeader {
  const byte = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xff;
  if (h === null || typeof h !== 'object' || !byte(h.cla) || !byte(h.ins) || !byte(h.p1) || !byte(h.p2)) {
    throw new AppError('CRYPTO_BAD_INPUT', 'The SM command header is four bytes: CLA, INS, P1, P2.');
  }
  return { cla: h.cla, ins: h.ins, p1: h.p1, p2: h.p2 };
}

function checkSealInput(r: ListSealInput): void {
  if (!(r.cardId instanceof Uint8Array) || r.cardId.length !== CARD_ID_LENGTH)
    throw new AppError('CARD_ID_INVALID', 'A card id is 8 bytes. Read the card again.');
  if (!Number.isInteger(r.listSeq) || r.listSeq < 0 || r.listSeq > 0xffffffff)
    throw new AppError('CRYPTO_BAD_INPUT', 'The list sequence number is a 32-bit unsigned integer.');
  if (!(r.signedList instanceof Uint8Array)) throw new AppError('CRYPTO_BAD_INPUT', 'The signed list must be bytes.');
}

function seqContext(r: ListSealInput): Buffer {
  return Buffer.concat([r.cardId, counterBytes(r.listSeq)]);
}

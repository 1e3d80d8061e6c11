import { createHash, timingSafeEqual } from 'node:crypto';
import { buildCodeListBody, checkCodeListSpec, listSecretKdfInput } from '../card/protocol/list-codes';
import { sha256 } from '../card/protocol/list-envelope';
import { encodeListBody, encodeSignedList } from '../card/protocol/list-format';
import { CardError } from '../card/card-error';
import { hotp } from '../crypto/hotp';
import { AppError } from '../errors';
import { codeChallengeMessage } from '../card/protocol/challenge-response';
import type { CardKeyService } from './card-key.service';
import type { CardProfileKeyService } from './card-profile-keys.service';
import type { IssuerKeyService } from './issuer-key.service';
import type { KeystoreBackend } from './keystore-backend';
import type {
  AuditSink,
  CardKeyHandle,
  CodeListRef,
  CodeListRequest,
  CodeListTarget,
  EmergencySheet,
  EmergencySheetActor,
  EmergencySheetRequest,
  IssuedCodeList,
} from './keystore.types';
import { MAILER_ROLES } from './keystore.types';
import type { KeyRegistry } from './key-registry';

// Code lists inside the keystore (issue 9 item 5, docs/keystore.md "Code lists"). A list's secret
// is derived from the master key, the list id the database stores, the card, the sequence number
// and the one key the list may be sealed for; it exists in keystore memory for one call and is
// wiped. The codes exist only in the list body, which is signed with S and sealed here, and in
// the check of one presented code, which answers match or no match.

/**
 * How many list secrets `check` keeps derived, most recently used first. A verification service
 * checks codes of the cards in use right now; 4,096 secrets of 20 bytes is 80 KiB of keystore memory.
 */
export const LIST_SECRET_CACHE_SIZE = 4096;

export class ListCodeService {
  /**
   * Derived list secrets kept for `check`, in keystore memory only, by the list they belong to
   * (mk version, sealed-for, card, seq, list id: no secret in the name). Deriving one is several AES
   * operations, more than the HOTP itself; a card's codes are checked one after another, so the
   * secret of a list in use is derived once. Wiped on `clear()` (the keystore closing or locking).
   */
  private readonly secrets = new Map<string, Buffer>();

  constructor(
    private readonly backend: KeystoreBackend,
    private readonly registry: KeyRegistry,
    private readonly cards: CardKeyService,
    private readonly profile: CardProfileKeyService,
    private readonly issuer: IssuerKeyService,
    private readonly audit: AuditSink,
  ) {}

  async issue(target: CodeListTarget, request: CodeListRequest): Promise<IssuedCodeList> {
    const spec = specOf(request);
    const sealedFor = await this.sealedFor(target);
    const mk = this.registry.active('master');
    if (!mk) throw noMasterKey();
    const credential = this.issuer.cardCredential(); // before the secret exists: refuses without S
    const secret = this.backend.deriveBytes(mk.id, listSecretKdfInput(spec, sealedFor));
    let body: Buffer | undefined;
    let signedList: Buffer | undefined;
    try {
      body = encodeListBody(buildCodeListBody(secret, spec));
      signedList = encodeSignedList({
        body,
        issuerPublicKey: credential.publicKey,
        caSignature: credential.caSignature,
        issuerSignature: this.issuer.sign(body, 'der'),
      });
      const request = { cardId: spec.cardId, listSeq: spec.listSeq, signedList };
      const sealed =
        target.mode === 'card-key'
          ? await this.profile.sealForCardKey(target.card, { ...request, keyVersion: target.card.sn })
          : this.profile.sealForPublicKey(target.cardPublicKeySpkiDer, { ...request, keyVersion: 0 });
      const bodyHash = sha256(body);
      this.audit('keystore.list.issued', {
        cardId: spec.cardId.toString('hex'),
        listSeq: spec.listSeq,
        listId: spec.listId.toString('hex'),
        length: spec.length,
        sealedFor,
        mkVersion: mk.version,
      });
      return { ...sealed, listId: Buffer.from(spec.listId), bodyHash, mkVersion: mk.version, sealedFor };
    } finally {
      secret.fill(0);
      body?.fill(0);
      signedList?.fill(0);
    }
  }

  /**
   * An emergency list for paper: its secret bound to `sheet:<N>` (no card key can be named), its
   * codes returned for the printed sheet. Only a named operator in MAILER_ROLES; audited, never a code.
   */
  issueSheet(request: EmergencySheetRequest, actor: EmergencySheetActor): EmergencySheet {
    const n = typeof request?.n === 'string' ? request.n : '';
    const named = typeof actor?.operator === 'string' && actor.operator.trim() !== '';
    if (!named || !MAILER_ROLES.includes(actor.role)) {
      this.audit('keystore.list.sheet_refused', {
        n,
        operator: named ? actor.operator : '',
        role: String(actor?.role ?? ''),
      });
      throw new AppError('FORBIDDEN', 'Only a manager prints an emergency sheet. Ask a manager to print it.');
    }
    if (!/^[0-9A-Za-z-]{1,64}$/.test(n)) throw new AppError('CRYPTO_BAD_INPUT', 'The card number N is not valid.');
    if (!Number.isInteger(request.length) || request.length < 1 || request.length > 50)
      throw new AppError('CRYPTO_BAD_INPUT', 'An emergency sheet holds 1 to 50 codes.');
    const spec = specOf({ ...request, expiry: 0, threshold: 0 });
    const sealedFor = `sheet:${n}`;
    const mk = this.registry.active('master');
    if (!mk) throw noMasterKey();
    const secret = this.listSecret(mk.version, spec, sealedFor);
    const codes = Array.from({ length: spec.length }, (_, i) => hotp(secret, i + 1, spec.digits));
    const bodyHash = createHash('sha256').update(spec.listId).update(codes.join('\n')).digest('hex');
    this.audit('keystore.list.sheet_issued', {
      n,
      cardId: spec.cardId.toString('hex'),
      listSeq: spec.listSeq,
      listId: spec.listId.toString('hex'),
      length: spec.length,
      mkVersion: mk.version,
      operator: actor.operator,
      role: actor.role,
      reason: String(actor.reason ?? '').slice(0, 200),
    });
    return { codes, mkVersion: mk.version, sealedFor, bodyHash };
  }

  /** Match or no match of one presented code, compared in constant time; nothing else comes out. */
  check(list: CodeListRef, index: number, code: string): boolean {
    const expected = this.expectedCode(list, index);
    if (!expected) return false;
    const presented = Buffer.from(typeof code === 'string' ? code : '', 'latin1');
    try {
      // timingSafeEqual needs equal lengths: a wrong length is compared against itself, then refused.
      const same = presented.length === expected.length;
      return timingSafeEqual(expected, same ? presented : expected) && same;
    } finally {
      expected.fill(0);
      presented.fill(0);
    }
  }

  /**
   * The card's answer to a challenge with a code (profile 8.2, P1 01): true when `mac` is
   * CMAC(CK, '01' || card id || index || challenge || code `index` of the list), CK derived from the
   * card key inside the keystore. The code is made here and wiped; the caller learns match or not.
   */
  async checkChallengeAnswer(
    card: CardKeyHandle,
    list: CodeListRef,
    index: number,
    challenge: Uint8Array,
    mac: Uint8Array,
  ): Promise<boolean> {
    if (!(challenge instanceof Uint8Array) || challenge.length < 1 || challenge.length > 64) return false;
    if (!(mac instanceof Uint8Array)) return false;
    const expected = this.expectedCode(list, index);
    if (!expected) return false;
    const message = codeChallengeMessage(
      Buffer.from(list.cardId),
      index,
      Buffer.from(challenge),
      expected.toString('latin1'),
    );
    try {
      // awaited here, so the code is wiped only after the keystore has compared it
      return await this.profile.verifyChallengeResponse(card, list.cardId, message, mac);
    } finally {
      expected.fill(0);
      message.fill(0);
    }
  }

  /** Code `index` of the list (latin1 bytes, to be wiped by the caller); undefined when out of range. */
  private expectedCode(list: CodeListRef, index: number): Buffer | undefined {
    const spec = refSpec(list);
    if (!Number.isInteger(index) || index < 1 || index > spec.length) return undefined;
    if (typeof list.sealedFor !== 'string' || !/^(card:|rsa:|sheet:)/.test(list.sealedFor)) return undefined;
    const secret = this.listSecret(list.mkVersion, spec, list.sealedFor);
    return Buffer.from(hotp(secret, index, spec.digits), 'latin1');
  }

  /** Wipes every cached list secret (the keystore closes). */
  clear(): void {
    for (const secret of this.secrets.values()) secret.fill(0);
    this.secrets.clear();
  }

  private listSecret(mkVersion: number, spec: ReturnType<typeof refSpec>, sealedFor: string): Buffer {
    // The master key is looked up every time: one removed from the keystore stops its lists at once.
    const mk = this.registry.byVersion('master', mkVersion);
    if (!mk) throw noMasterKey();
    const name = `${mk.id}|${sealedFor}|${spec.cardId.toString('hex')}|${spec.listSeq}|${spec.listId.toString('hex')}`;
    const cached = this.secrets.get(name);
    if (cached) {
      // Most recently used last: the Map's first entry is the one to drop.
      this.secrets.delete(name);
      this.secrets.set(name, cached);
      return cached;
    }
    const secret = this.backend.deriveBytes(mk.id, listSecretKdfInput(spec, sealedFor));
    this.secrets.set(name, secret);
    if (this.secrets.size > LIST_SECRET_CACHE_SIZE) {
      const [oldest, value] = this.secrets.entries().next().value as [string, Buffer];
      value.fill(0);
      this.secrets.delete(oldest);
    }
    return secret;
  }

  /** The one key a list may be sealed for, as a name: `card:<N>` or `rsa:<SHA-256 of the SPKI>`. */
  private async sealedFor(target: CodeListTarget): Promise<string> {
    if (target?.mode === 'card-key') {
      await this.cards.ref(target.card); // a forged or retired handle is refused here
      return `card:${target.card.n}`;
    }
    if (target?.mode === 'public-key') {
      if (!(target.cardPublicKeySpkiDer instanceof Uint8Array))
        throw new AppError('KEY_BAD_PUBLIC_KEY', 'The card public key could not be read. Read it from the card again.');
      return `rsa:${createHash('sha256').update(target.cardPublicKeySpkiDer).digest('hex')}`;
    }
    throw new AppError(
      'CRYPTO_BAD_INPUT',
      "A list is sealed for a card key handle or for the card's RSA public key. Read the card again.",
    );
  }
}

function noMasterKey(): AppError {
  return new AppError(
    'KEYSTORE_NO_MASTER_KEY',
    'The master key this list was made under is not in the keystore. A security officer must restore it (Keys page).',
  );
}

function specOf(r: CodeListRequest) {
  const spec = {
    cardId: r?.cardId instanceof Uint8Array ? Buffer.from(r.cardId) : Buffer.alloc(0),
    listSeq: r?.listSeq,
    listId: r?.listId instanceof Uint8Array ? Buffer.from(r.listId) : Buffer.alloc(0),
    length: r?.length,
    digits: r?.digits,
    expiry: r?.expiry,
    threshold: r?.threshold,
  };
  try {
    checkCodeListSpec(spec);
  } catch (err) {
    if (err instanceof CardError) throw new AppError('CRYPTO_BAD_INPUT', err.message);
    throw err;
  }
  return spec;
}

function refSpec(list: CodeListRef) {
  return specOf({ ...list, expiry: 0, threshold: 0 });
}

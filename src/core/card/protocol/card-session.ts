import { randomBytes } from 'node:crypto';
import type { CommandApdu } from '../apdu.codec';
import { send, transceive, type LinkOptions } from '../apdu-send';
import { CardError, cardStatusError } from '../card-error';
import type { CardKeyPort, KeyRef } from '../card-key-port';
import { SW, triesLeft } from '../status-words';
import type { CardTransport } from '../transport';
import {
  parseCardState,
  parseCodeChallengeResponse,
  parseIssuedCode,
  parseListReceipt,
  parseOpenSession,
  parseSelectResponse,
  type CardState,
  type CodeChallengeResponse,
  type IssuedCode,
  type ListReceipt,
  type SelectInfo,
} from './card-responses';
import { encodePinBlock } from './pin-block';
import {
  AES_KEY_LENGTH,
  CHALLENGE_LENGTH,
  CLA_ISO,
  CLA_PLAIN,
  CR_WITH_CARD_KEY,
  CR_WITH_CODE,
  INS,
  MAC_LENGTH,
  OTAC_AID,
  PIN_REFERENCE,
} from './profile.constants';
import { SecureChannel } from './secure-channel';

// The host side of the OTAC card profile over any CardTransport: one object per card
// presentation. Commands are sent as the profile defines them; every failure is a CardError.

export interface OtacCardOptions {
  /** The reader passes extended-length APDUs (vpcd and most CCID readers do). */
  readonly readerExtendedLength?: boolean;
  /** Cap on list bytes per STAGE LIST command (defaults to the card's maximum). */
  readonly maxChunk?: number;
  /**
   * Where OPEN SESSION's host challenge comes from: the CSPRNG. Only the byte-for-byte APDU tests
   * fix it, to compare the host's session with the profile's reference vectors (Appendix B).
   */
  readonly hostChallenge?: () => Buffer;
}

export type ProgressListener = (sentBytes: number, totalBytes: number) => void;

export class OtacCard {
  private link: LinkOptions;
  private info: SelectInfo | undefined;

  constructor(
    private readonly transport: CardTransport,
    private readonly options: OtacCardOptions = {},
  ) {
    this.link = { extendedLength: false };
  }

  get selectInfo(): SelectInfo | undefined {
    return this.info;
  }

  private plain(ins: number, p1 = 0, p2 = 0, data?: Buffer, ne?: number): CommandApdu {
    return { cla: CLA_PLAIN, ins, p1, p2, ...(data ? { data } : {}), ...(ne ? { ne } : {}) };
  }

  async select(): Promise<SelectInfo> {
    const r = await send(
      this.transport,
      { cla: CLA_ISO, ins: INS.SELECT, p1: 0x04, p2: 0x00, data: OTAC_AID, ne: 256 },
      'Selecting the OTAC application',
    );
    this.info = parseSelectResponse(r.data);
    this.link = {
      extendedLength: (this.options.readerExtendedLength ?? true) && this.info.extendedLength,
      maxCommandData: this.info.maxCommandData,
    };
    return this.info;
  }

  async getState(): Promise<CardState> {
    const r = await send(
      this.transport,
      this.plain(INS.GET_STATE, 0, 0, undefined, 256),
      'Reading the card state',
      this.link,
    );
    return parseCardState(r.data);
  }

  /** Wrong PIN: CardError CARD_PIN_WRONG (sw 63Cx) — never retried here; blocked: sw 6983. */
  async verifyPin(pin: string): Promise<void> {
    const r = await transceive(
      this.transport,
      { cla: CLA_ISO, ins: INS.VERIFY, p1: 0, p2: PIN_REFERENCE, data: encodePinBlock(pin) },
      this.link,
    );
    this.checkVerification(r.sw, 'PIN', 'Verifying the PIN');
  }

  async changePin(oldPin: string, newPin: string): Promise<void> {
    const data = Buffer.concat([encodePinBlock(oldPin), encodePinBlock(newPin)]);
    const r = await transceive(
      this.transport,
      { cla: CLA_ISO, ins: INS.CHANGE_PIN, p1: 0, p2: PIN_REFERENCE, data },
      this.link,
    );
    this.checkVerification(r.sw, 'PIN', 'Changing the PIN');
  }

  /** Tries left without spending one (VERIFY with no data); undefined when already verified. */
  async pinTriesLeft(): Promise<number | undefined> {
    const r = await transceive(this.transport, { cla: CLA_ISO, ins: INS.VERIFY, p1: 0, p2: PIN_REFERENCE }, this.link);
    if (r.sw === SW.OK) return undefined;
    const left = triesLeft(r.sw);
    if (left === undefined) throw cardStatusError(r.sw, 'Reading the PIN retry counter');
    return left;
  }

  /** Activation with K from the mailer (cardholder input) and the cardholder's first PIN. */
  async activate(k: Buffer, newPin: string): Promise<void> {
    if (k.length !== AES_KEY_LENGTH) {
      throw new CardError(
        'CARD_ACTIVATION_KEY_FORMAT',
        'The activation key from the mailer must be 16 bytes (32 hex characters). Type it again.',
      );
    }
    const r = await transceive(
      this.transport,
      this.plain(INS.ACTIVATE, 0, 0, Buffer.concat([k, encodePinBlock(newPin)])),
      this.link,
    );
    this.checkVerification(r.sw, 'activation key', 'Activating the card');
  }

  private checkVerification(sw: number, what: string, operation: string): void {
    if (sw === SW.OK) return;
    const left = triesLeft(sw);
    if (left !== undefined) {
      const next =
        left === 0
          ? 'The card is now blocked: a manager must unblock it.'
          : `Check it and try again carefully: ${left} tries left.`;
      throw new CardError(
        what === 'PIN' ? 'CARD_PIN_WRONG' : 'CARD_ACTIVATION_KEY_WRONG',
        `${operation}: wrong ${what}. ${next}`,
        sw,
      );
    }
    if (sw === SW.AUTH_BLOCKED) {
      throw new CardError(
        'CARD_BLOCKED',
        `${operation}: the ${what} is blocked on this card. A manager must unblock it at the issuer workstation.`,
        sw,
      );
    }
    throw cardStatusError(sw, operation);
  }

  /** Opens secure messaging under the card key (or, on a blank card, its transport key, version 0). */
  async openSecureChannel(port: CardKeyPort, key: KeyRef, keyVersion: number): Promise<SecureChannel> {
    const hostChallenge = this.options.hostChallenge?.() ?? randomBytes(CHALLENGE_LENGTH);
    const r = await send(
      this.transport,
      this.plain(INS.OPEN_SESSION, keyVersion, 0, hostChallenge, 256),
      'Opening a secure session',
      this.link,
    );
    const { cardChallenge, cryptogram } = parseOpenSession(r.data);
    const crypto = await port.openSession(key, hostChallenge, cardChallenge);
    if (!(await crypto.verifyCardCryptogram(cryptogram))) {
      throw new CardError(
        'CARD_AUTH_FAILED',
        'The card did not prove it holds the expected key: wrong card, wrong key version, or a counterfeit. Check the card id; do not retry with other keys.',
      );
    }
    return new SecureChannel(this.transport, this.link, crypto);
  }

  /** Stages the envelope in as few APDUs as the link allows, then commits it; returns the card's receipt. */
  async loadList(envelope: Buffer, onProgress?: ProgressListener): Promise<ListReceipt> {
    const chunk = Math.max(1, Math.min(this.options.maxChunk ?? Infinity, this.link.maxCommandData ?? 255));
    let sent = 0;
    for (let n = 0; sent < envelope.length; n++) {
      if (n > 0xffff)
        throw new CardError('CARD_LIST_TOO_LARGE', 'The list is too large for this card. Issue a shorter list.');
      const piece = envelope.subarray(sent, sent + chunk);
      await send(
        this.transport,
        this.plain(INS.STAGE_LIST, n >> 8, n & 0xff, piece),
        'Sending the code list',
        this.link,
      );
      sent += piece.length;
      onProgress?.(sent, envelope.length);
    }
    const r = await send(
      this.transport,
      this.plain(INS.COMMIT_LIST, 0, 0, undefined, 256),
      'Committing the code list',
      this.link,
    );
    return parseListReceipt(r.data);
  }

  /** The committed list's receipt again (after a lost COMMIT response). */
  async getReceipt(): Promise<ListReceipt> {
    const r = await send(
      this.transport,
      this.plain(INS.GET_RECEIPT, 0, 0, undefined, 256),
      'Reading the list receipt',
      this.link,
    );
    return parseListReceipt(r.data);
  }

  async nextCode(): Promise<IssuedCode> {
    const r = await send(
      this.transport,
      this.plain(INS.NEXT_CODE, 0, 0, undefined, 256),
      'Reading the next code',
      this.link,
    );
    return parseIssuedCode(r.data);
  }

  async codeByIndex(index: number): Promise<IssuedCode> {
    if (!Number.isInteger(index) || index < 1 || index > 0xffff) {
      throw new CardError(
        'CARD_INDEX_INVALID',
        'A code index is a number from 1 to 65535. Check the index the bank asked for.',
      );
    }
    const r = await send(
      this.transport,
      this.plain(INS.CODE_BY_INDEX, index >> 8, index & 0xff, undefined, 256),
      `Reading code #${index}`,
      this.link,
    );
    return parseIssuedCode(r.data);
  }

  /** Source 001 [0027]: the card answers a terminal's challenge with a MAC over it and the next code. */
  async challengeWithCode(challenge: Buffer): Promise<CodeChallengeResponse> {
    const r = await send(
      this.transport,
      this.plain(INS.CHALLENGE_RESPONSE, CR_WITH_CODE, 0, challenge, 256),
      'Answering a challenge with a code',
      this.link,
    );
    return parseCodeChallengeResponse(r.data);
  }

  /** Card authentication: a MAC over the challenge with a key derived from the card key. */
  async challengeWithCardKey(challenge: Buffer): Promise<Buffer> {
    const r = await send(
      this.transport,
      this.plain(INS.CHALLENGE_RESPONSE, CR_WITH_CARD_KEY, 0, challenge, 256),
      'Authenticating the card',
      this.link,
    );
    if (r.data.length !== MAC_LENGTH)
      throw new CardError(
        'CARD_RESPONSE_MALFORMED',
        'The card sent a malformed challenge response. Re-insert the card and retry.',
      );
    return r.data;
  }
}

import type { KeyRef, RsaPublicKeyBytes, SealPart, SmSessionCrypto } from '../card-key-port';
import { transceive, type LinkOptions } from '../apdu-send';
import { CardError, cardStatusError } from '../card-error';
import { SW } from '../status-words';
import type { CardTransport } from '../transport';
import { parseCardState, parseKeyPairResponse, type CardState } from './card-responses';
import { encodePinBlock } from './pin-block';
import { CLA_SM, EC_POINT_LENGTH, INS, PIN_REFERENCE } from './profile.constants';

// An open secure-messaging session with the card (profile section 6) and the issuer commands
// that run inside it. One counter per session; any failure ends the session, never a retry.

export interface PersonalisationData {
  /** The card's identification code N (6–24 printable ASCII). */
  readonly n: string;
  /** The card key K (also printed on the mailer), as a keystore handle. */
  readonly cardKey: KeyRef;
  readonly keyVersion: number;
  /** The CA's P-256 public key, uncompressed point. */
  readonly caPublicKey: Buffer;
  readonly pinTries: number;
  readonly activationTries: number;
}

export class SecureChannel {
  private counter = 0;
  private open = true;

  constructor(
    private readonly transport: CardTransport,
    private readonly link: LinkOptions,
    private readonly crypto: SmSessionCrypto,
  ) {}

  get isOpen(): boolean {
    return this.open;
  }

  /** Sends one SM command; returns the verified, decrypted response data. */
  async command(
    ins: number,
    p1: number,
    p2: number,
    plaintext: readonly SealPart[],
    operation: string,
  ): Promise<Buffer> {
    if (!this.open) {
      throw new CardError(
        'CARD_SESSION_CLOSED',
        `${operation}: the secure session has ended. Open a new session and retry.`,
      );
    }
    const counter = ++this.counter;
    const header = { cla: CLA_SM, ins, p1, p2 };
    try {
      const data = await this.crypto.wrapCommand(counter, header, plaintext);
      const r = await transceive(this.transport, { ...header, data, ne: 256 }, this.link);
      if (r.data.length === 0 && (r.sw === SW.SM_DATA_INCORRECT || r.sw === SW.SECURITY_NOT_SATISFIED)) {
        throw cardStatusError(r.sw, operation);
      }
      const plain = await this.crypto.unwrapResponse(counter, r.data, r.sw);
      if (plain === undefined) {
        throw new CardError(
          'CARD_SM_RESPONSE_INVALID',
          `${operation}: the card's answer failed its secure-messaging check, so it cannot be trusted. Re-insert the card and retry; if it repeats, the card may not be genuine.`,
          r.sw,
        );
      }
      if (r.sw !== SW.OK) throw cardStatusError(r.sw, operation);
      return plain;
    } catch (err) {
      this.open = false;
      throw err;
    }
  }

  close(): void {
    this.open = false;
  }

  /** Writes N, the card key, the CA key and retry limits to a blank card (session under its transport key). */
  async personalise(p: PersonalisationData): Promise<void> {
    const n = Buffer.from(p.n, 'latin1');
    if (
      n.length < 6 ||
      n.length > 24 ||
      !n.every((c) => c >= 0x21 && c <= 0x7e) ||
      p.caPublicKey.length !== EC_POINT_LENGTH
    ) {
      throw new CardError(
        'CARD_PERSONALISATION_INVALID',
        'Personalisation data is invalid (N must be 6-24 characters, the CA key a P-256 point). Check the enrollment record.',
      );
    }
    await this.command(
      INS.PERSONALISE,
      0,
      0,
      [
        Buffer.from([n.length]),
        n,
        { keyOf: p.cardKey },
        Buffer.from([p.keyVersion]),
        p.caPublicKey,
        Buffer.from([p.pinTries, p.activationTries]),
      ],
      'Personalising the card',
    );
    this.open = false;
  }

  /** GET STATE under SM: the counters, authenticated by the card's R-MAC. */
  async readState(): Promise<CardState> {
    return parseCardState(await this.command(INS.GET_STATE, 0, 0, [], 'Reading the card counters'));
  }

  /** Sends K' under the current key; afterwards the card accepts only K' (version `newVersion`). */
  async rotateKey(newKey: KeyRef, newVersion: number): Promise<void> {
    await this.command(INS.ROTATE_KEY, newVersion, 0, [{ keyOf: newKey }, { kcvOf: newKey }], 'Rotating the card key');
    this.open = false;
  }

  async generateKeyPair(): Promise<RsaPublicKeyBytes> {
    return parseKeyPairResponse(await this.command(INS.GENERATE_KEY_PAIR, 0, 0, [], 'Generating the card key pair'));
  }

  async resetRetryCounter(newPin?: string): Promise<void> {
    await this.command(
      INS.RESET_RETRY_COUNTER,
      0,
      PIN_REFERENCE,
      newPin === undefined ? [] : [encodePinBlock(newPin)],
      'Unblocking the card',
    );
  }

  async terminate(): Promise<void> {
    await this.command(INS.TERMINATE, 0, 0, [], 'Terminating the card');
    this.open = false;
  }
}

import { malformed } from '../card-error';
import { decodeTlvs, findTlv, requireTlv, type Tlv } from '../tlv.codec';
import {
  CAPABILITY_EXTENDED_LENGTH,
  CARD_ID_LENGTH,
  CHALLENGE_LENGTH,
  FLAG,
  lifeCycleFromByte,
  MAC_LENGTH,
  OTAC_AID,
  RSA_MODULUS_LENGTH,
  TAG,
  type LifeCycle,
} from './profile.constants';

// Parsers for every response data field of the profile. Total: anything that does not
// follow the profile is a CardError ('CARD_RESPONSE_MALFORMED' / 'CARD_TLV_MALFORMED').

export interface SelectInfo {
  readonly cardId: string;
  readonly profileVersion: number;
  readonly maxCommandData: number;
  readonly extendedLength: boolean;
}

export interface CardCounters {
  readonly codesIssued: number;
  readonly codesByIndex: number;
  readonly wrongPins: number;
  readonly challengeResponses: number;
  readonly listsCommitted: number;
}

export interface CardListSummary {
  readonly listId: string;
  readonly listSeq: number;
  /** Seconds since 1970 UTC. */
  readonly expiry: number;
  readonly entries: number;
  readonly remaining: number;
  readonly threshold: number;
}

/** The card's public state: no key, PIN or code. */
export interface CardState {
  readonly lifeCycle: LifeCycle;
  readonly cardId: string;
  readonly profileVersion: number;
  readonly n: string | undefined;
  readonly keyVersion: number;
  readonly pinTriesLeft: number;
  readonly activationTriesLeft: number;
  readonly list: CardListSummary | undefined;
  readonly lowCodes: boolean;
  readonly keyPair: boolean;
  readonly pinVerified: boolean;
  readonly sessionOpen: boolean;
  readonly lastListSeq: number;
  readonly counters: CardCounters;
}

export interface IssuedCode {
  readonly index: number;
  readonly remaining: number;
  readonly lowCodes: boolean;
  readonly code: string;
}

export interface CodeChallengeResponse {
  readonly index: number;
  readonly remaining: number;
  readonly lowCodes: boolean;
  readonly mac: Buffer;
}

export interface ListReceipt {
  readonly listSeq: number;
  readonly mac: Buffer;
}

const uint = (b: Buffer): number => b.reduce((n, x) => n * 256 + x, 0);

function uintTag(tlvs: readonly Tlv[], tag: number, len: number): number {
  return uint(requireTlv(tlvs, tag, len));
}

export function parseSelectResponse(data: Buffer): SelectInfo {
  const fci = requireTlv(decodeTlvs(data), TAG.FCI);
  const inner = decodeTlvs(fci);
  if (!requireTlv(inner, TAG.FCI_AID).equals(OTAC_AID)) throw malformed('SELECT response (AID)');
  const prop = decodeTlvs(requireTlv(inner, TAG.FCI_PROPRIETARY));
  const maxCommandData = uintTag(prop, TAG.MAX_COMMAND_DATA, 2);
  if (maxCommandData < 1) throw malformed('SELECT response (max command data)');
  return {
    cardId: requireTlv(prop, TAG.CARD_ID, CARD_ID_LENGTH).toString('hex'),
    profileVersion: uintTag(prop, TAG.PROFILE_VERSION, 1),
    maxCommandData,
    extendedLength: (uintTag(prop, TAG.CAPABILITIES, 1) & CAPABILITY_EXTENDED_LENGTH) !== 0,
  };
}

export function parseCardState(data: Buffer): CardState {
  const t = decodeTlvs(data);
  const lifeCycle = lifeCycleFromByte(uintTag(t, TAG.LIFE_CYCLE, 1));
  if (!lifeCycle) throw malformed('card state (life cycle)');
  const n = findTlv(t, TAG.N)?.value;
  if (n !== undefined && !n.every((c) => c >= 0x21 && c <= 0x7e)) throw malformed('card state (N)');
  const listId = findTlv(t, TAG.LIST_ID);
  let list: CardListSummary | undefined;
  if (listId) {
    if (listId.value.length !== 16) throw malformed('card state (list id)');
    list = {
      listId: listId.value.toString('hex'),
      listSeq: uintTag(t, TAG.LIST_SEQ, 4),
      expiry: uintTag(t, TAG.LIST_EXPIRY, 4),
      entries: uintTag(t, TAG.LIST_ENTRIES, 2),
      remaining: uintTag(t, TAG.LIST_REMAINING, 2),
      threshold: uintTag(t, TAG.LIST_THRESHOLD, 2),
    };
    if (list.remaining > list.entries) throw malformed('card state (remaining > entries)');
  }
  const flags = uintTag(t, TAG.FLAGS, 1);
  return {
    lifeCycle,
    cardId: requireTlv(t, TAG.CARD_ID, CARD_ID_LENGTH).toString('hex'),
    profileVersion: uintTag(t, TAG.PROFILE_VERSION, 1),
    n: n?.toString('latin1'),
    keyVersion: uintTag(t, TAG.KEY_VERSION, 1),
    pinTriesLeft: uintTag(t, TAG.PIN_TRIES, 1),
    activationTriesLeft: uintTag(t, TAG.ACTIVATION_TRIES, 1),
    list,
    lowCodes: (flags & FLAG.LOW_CODES) !== 0,
    keyPair: (flags & FLAG.KEY_PAIR) !== 0,
    pinVerified: (flags & FLAG.PIN_VERIFIED) !== 0,
    sessionOpen: (flags & FLAG.SESSION_OPEN) !== 0,
    lastListSeq: uintTag(t, TAG.LAST_LIST_SEQ, 4),
    counters: {
      codesIssued: uintTag(t, TAG.CODES_ISSUED, 4),
      wrongPins: uintTag(t, TAG.WRONG_PINS, 4),
      challengeResponses: uintTag(t, TAG.CHALLENGE_RESPONSES, 4),
      listsCommitted: uintTag(t, TAG.LISTS_COMMITTED, 4),
      codesByIndex: uintTag(t, TAG.CODES_BY_INDEX, 4),
    },
  };
}

function codeHead(data: Buffer, what: string): { index: number; remaining: number; lowCodes: boolean } {
  if (data.length < 5) throw malformed(what);
  return {
    index: data.readUInt16BE(0),
    remaining: data.readUInt16BE(2),
    lowCodes: ((data[4] ?? 0) & FLAG.LOW_CODES) !== 0,
  };
}

export function parseIssuedCode(data: Buffer): IssuedCode {
  const head = codeHead(data, 'code response');
  const code = data.subarray(5);
  if (code.length < 4 || code.length > 16 || !code.every((c) => c >= 0x21 && c <= 0x7e))
    throw malformed('code response');
  return { ...head, code: code.toString('latin1') };
}

export function parseCodeChallengeResponse(data: Buffer): CodeChallengeResponse {
  if (data.length !== 5 + MAC_LENGTH) throw malformed('challenge response');
  return { ...codeHead(data, 'challenge response'), mac: Buffer.from(data.subarray(5)) };
}

export function parseListReceipt(data: Buffer): ListReceipt {
  if (data.length !== 4 + MAC_LENGTH) throw malformed('list receipt');
  return { listSeq: data.readUInt32BE(0), mac: Buffer.from(data.subarray(4)) };
}

export function parseOpenSession(data: Buffer): { cardChallenge: Buffer; cryptogram: Buffer } {
  if (data.length !== CHALLENGE_LENGTH + MAC_LENGTH) throw malformed('OPEN SESSION response');
  return {
    cardChallenge: Buffer.from(data.subarray(0, CHALLENGE_LENGTH)),
    cryptogram: Buffer.from(data.subarray(CHALLENGE_LENGTH)),
  };
}

export function parseKeyPairResponse(data: Buffer): { modulus: Buffer; exponent: Buffer } {
  if (data.length <= RSA_MODULUS_LENGTH || data.length > RSA_MODULUS_LENGTH + 4) throw malformed('key pair response');
  const modulus = Buffer.from(data.subarray(0, RSA_MODULUS_LENGTH));
  if (((modulus[0] ?? 0) & 0x80) === 0) throw malformed('key pair response (modulus not 2048 bits)');
  return { modulus, exponent: Buffer.from(data.subarray(RSA_MODULUS_LENGTH)) };
}

import { randomBytes } from 'node:crypto';
import { deriveTransportKey } from '../core/card/protocol/sm-crypto';
import { CARD_ID_LENGTH, LIFE_CYCLE, type LifeCycle } from '../core/card/protocol/profile.constants';
import { AppError } from '../core/errors';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from './dev-transport-key';

// What a virtual card keeps in its "EEPROM": one JSON document per card. Holds secrets
// (keys, PIN, codes) exactly as a card chip would; never print it (the CLI shows a summary).

export interface StoredEntry {
  index: number;
  code: string;
  used: boolean;
}

export interface StoredList {
  listId: string;
  listSeq: number;
  expiry: number;
  threshold: number;
  codeLength: number;
  entries: StoredEntry[];
  bodyHash: string;
  receiptKey: string;
}

export interface CardCounters {
  codesIssued: number;
  codesByIndex: number;
  wrongPins: number;
  challengeResponses: number;
  listsCommitted: number;
}

export interface CardRecord {
  format: 'otac-virtual-card/1';
  cardId: string;
  atrHex: string;
  createdAt: string;
  lifeCycle: LifeCycle;
  blockedFrom?: 'personalised' | 'active';
  transportKey?: string;
  n?: string;
  cardKey?: string;
  keyVersion: number;
  caPublicKey?: string;
  pin?: string;
  pinTriesMax: number;
  pinTriesLeft: number;
  activationTriesMax: number;
  activationTriesLeft: number;
  rsa?: { privateKeyPem: string; modulus: string; exponent: string };
  list?: StoredList;
  lastListSeq: number;
  counters: CardCounters;
}

/**
 * ATR: direct convention, T=0 and T=1 offered, 15 historical bytes = category 80, then
 * COMPACT-TLV tag 5 (card issuer's data) length 13: 'OTAC' || profile 01 || 8-byte card id.
 */
export function buildAtr(cardId: Buffer): Buffer {
  const historical = Buffer.concat([
    Buffer.from([0x80, 0x5d]),
    Buffer.from('OTAC', 'ascii'),
    Buffer.from([0x01]),
    cardId,
  ]);
  const body = Buffer.concat([Buffer.from([0x80 | historical.length, 0x80, 0x01]), historical]);
  let tck = 0;
  for (const b of body) tck ^= b;
  return Buffer.concat([Buffer.from([0x3b]), body, Buffer.from([tck])]);
}

// The host recognises the ATR with the same rule; it lives in core so the workstation needs no card-sim code.
export { cardIdFromAtr } from '../core/card/protocol/atr';

export function newBlankCard(
  now: Date = new Date(),
  vendorMaster: Buffer = DEV_VENDOR_TRANSPORT_MASTER_KEY,
): CardRecord {
  const id = randomBytes(CARD_ID_LENGTH);
  return {
    format: 'otac-virtual-card/1',
    cardId: id.toString('hex'),
    atrHex: buildAtr(id).toString('hex'),
    createdAt: now.toISOString(),
    lifeCycle: 'blank',
    transportKey: deriveTransportKey(vendorMaster, id).toString('hex'),
    keyVersion: 0,
    pinTriesMax: 0,
    pinTriesLeft: 0,
    activationTriesMax: 0,
    activationTriesLeft: 0,
    lastListSeq: 0,
    counters: { codesIssued: 0, codesByIndex: 0, wrongPins: 0, challengeResponses: 0, listsCommitted: 0 },
  };
}

/** Light structural check of a card file read from disk. */
export function parseCardRecord(json: string, source: string): CardRecord {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new AppError('CARD_FILE_INVALID', `Card file ${source} is not valid JSON. Restore it or create a new card.`);
  }
  const r = v as Partial<CardRecord> | null;
  if (
    !r ||
    r.format !== 'otac-virtual-card/1' ||
    typeof r.cardId !== 'string' ||
    !/^[0-9a-f]{16}$/.test(r.cardId) ||
    typeof r.lifeCycle !== 'string' ||
    !(r.lifeCycle in LIFE_CYCLE) ||
    typeof r.counters !== 'object'
  ) {
    throw new AppError(
      'CARD_FILE_INVALID',
      `Card file ${source} is not an OTAC virtual card. Restore it or create a new card.`,
    );
  }
  return r as CardRecord;
}

import { CardStore } from '../../src/card-sim/card-store';
import { newBlankCard, type CardRecord } from '../../src/card-sim/card-record';
import type { InsertOptions } from '../../src/card-sim/slots';
import { encodePinBlock } from '../../src/core/card/protocol/pin-block';
import { INS, OTAC_AID, PIN_REFERENCE, TAG } from '../../src/core/card/protocol/profile.constants';
import { decodeTlvs, findTlv } from '../../src/core/card/tlv.codec';

/**
 * The real VirtualCard as the PC/SC integration tests use it (card-process.ts in a slot),
 * and the few plain APDUs of the profile they send: SELECT, GET STATE, VERIFY.
 */
export interface TestCard {
  file: string;
  cardId: string;
  record: CardRecord;
}

/** A blank card from stock, or one already in another life-cycle state via `overrides`. */
export function createTestCard(dir: string, overrides: Partial<CardRecord> = {}): TestCard {
  const store = new CardStore(dir);
  const record: CardRecord = { ...newBlankCard(), ...overrides };
  store.save(record);
  return { file: store.pathOf(record.cardId), cardId: record.cardId, record };
}

/** An activated card whose PIN is known: VERIFY with a wrong PIN commits a decrement. */
export function createActiveCard(dir: string, pin = '2468'): TestCard {
  return createTestCard(dir, { lifeCycle: 'active', pin, n: '4711000000000004', pinTriesMax: 5, pinTriesLeft: 5 });
}

/** The card process runs the real VirtualCard; no entry override. */
export const cardInsertOptions: InsertOptions = {};

export const SELECT_APPLET = Buffer.concat([
  Buffer.from([0x00, INS.SELECT, 0x04, 0x00, OTAC_AID.length]),
  OTAC_AID,
  Buffer.from([0x00]),
]);
export const GET_STATE = Buffer.from([0x80, INS.GET_STATE, 0x00, 0x00, 0x00]);
export const GET_CARD_ID = GET_STATE;

export function verifyPin(pin: string): Buffer {
  const block = encodePinBlock(pin);
  return Buffer.concat([Buffer.from([0x00, INS.VERIFY, 0x00, PIN_REFERENCE, block.length]), block]);
}

/** The card id (tag C1) from a GET STATE response (data || SW). */
export function cardIdFrom(response: Buffer): string {
  const tlvs = decodeTlvs(response.subarray(0, response.length - 2));
  return findTlv(tlvs, TAG.CARD_ID)?.value.toString('hex') ?? '';
}

export function sw(response: Buffer): number {
  return response.readUInt16BE(response.length - 2);
}

/** Reads the card file back the way the card process does; throws if it does not parse. */
export function readCard(card: TestCard): CardRecord {
  return new CardStore().loadFile(card.file);
}

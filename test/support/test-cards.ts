import fs from 'node:fs';
import path from 'node:path';
import type { InsertOptions } from '../../src/card-sim/slots';
import { ECHO_AID } from './echo-card';

/**
 * The card the PC/SC integration tests put in slots, and the few APDUs they send to it.
 * One place to switch from the EchoCard to the real VirtualCard.
 */
export interface TestCard {
  file: string;
  cardId: string;
}

export const ECHO_ENTRY = path.join(__dirname, 'echo-card-process.ts');

export function createTestCard(dir: string, cardId = '0102030405060708'): TestCard {
  const file = path.join(dir, `${cardId}.json`);
  fs.writeFileSync(file, JSON.stringify({ cardId }));
  return { file, cardId };
}

export const cardInsertOptions: InsertOptions = { entry: ECHO_ENTRY };

export const SELECT_APPLET = Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x00, ECHO_AID.length]), ECHO_AID]);
export const GET_CARD_ID = Buffer.from('00CA000000', 'hex');

export function cardIdFrom(response: Buffer): string {
  return response.subarray(0, response.length - 2).toString('hex');
}

/** The card file still parses and its committed data is what it was. */
export function readCardFile(card: TestCard): unknown {
  return JSON.parse(fs.readFileSync(card.file, 'utf8'));
}

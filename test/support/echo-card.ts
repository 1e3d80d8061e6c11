import type { CardSide } from '../../src/card-sim/card-side';

/**
 * A minimal CardSide for link and reader tests: SELECT by AID, GET DATA 'card id',
 * and an ECHO command (INS EE) that returns its data. Counts power cycles so tests can
 * see what the reader did.
 */
export const ECHO_AID = Buffer.from('F04F54414301', 'hex');
export const ECHO_ATR = Buffer.from('3B8880010000000000000000', 'hex');

export class EchoCard implements CardSide {
  powerOns = 0;
  resets = 0;
  selected = false;

  constructor(readonly cardId: Buffer = Buffer.from('0102030405060708', 'hex')) {}

  atr(): Buffer {
    return ECHO_ATR;
  }
  powerOn(): void {
    this.powerOns += 1;
    this.selected = false;
  }
  powerOff(): void {
    this.selected = false;
  }
  reset(): void {
    this.resets += 1;
    this.selected = false;
  }
  process(apdu: Buffer): Buffer {
    if (apdu.length < 4) return sw(0x6700);
    const ins = apdu[1];
    const data = commandData(apdu);
    if (ins === 0xa4) {
      this.selected = data !== undefined && data.equals(ECHO_AID);
      return sw(this.selected ? 0x9000 : 0x6a82);
    }
    if (!this.selected) return sw(0x6985);
    if (ins === 0xca) return Buffer.concat([this.cardId, sw(0x9000)]);
    if (ins === 0xee) return Buffer.concat([data ?? Buffer.alloc(0), sw(0x9000)]);
    return sw(0x6d00);
  }
}

function sw(value: number): Buffer {
  return Buffer.from([value >> 8, value & 0xff]);
}

/** Command data of a short or extended case 3/4 APDU. */
function commandData(apdu: Buffer): Buffer | undefined {
  if (apdu.length <= 5) return undefined;
  if (apdu[4] !== 0) return apdu.subarray(5, 5 + apdu[4]!);
  if (apdu.length < 7) return undefined;
  const lc = apdu.readUInt16BE(5);
  return apdu.subarray(7, 7 + lc);
}

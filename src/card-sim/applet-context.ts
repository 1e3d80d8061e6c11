import { encodeTlvs } from '../core/card/tlv.codec';
import { FLAG, LIFE_CYCLE, PROFILE_VERSION, TAG, type LifeCycle } from '../core/card/protocol/profile.constants';
import type { SessionKeys } from '../core/card/protocol/sm-crypto';
import type { AppletReply } from './card-apdu-io';
import type { CardRecord, StoredList } from './card-record';

// Shared pieces of the applet: the context every command handler works on, and reply helpers.

/** RAM state: gone at powerOff, reset or re-SELECT, as CLEAR_ON_RESET/DESELECT arrays are on Java Card. */
export interface TransientState {
  selected: boolean;
  pinVerified: boolean;
  session: { keys: SessionKeys; counter: number; keyVersion: number } | undefined;
  staging: { parts: Buffer[]; size: number; next: number } | undefined;
}

export interface AppletContext {
  readonly rec: CardRecord;
  readonly t: TransientState;
  /** Applies `mutate` to a copy, persists it, then adopts it; false (state unchanged) if persisting failed. */
  transact(mutate: (draft: CardRecord) => void): boolean;
  random(n: number): Buffer;
}

const EMPTY = Buffer.alloc(0);
export const reply = (data: Buffer, sw = 0x9000): AppletReply => ({ data, sw });
export const status = (sw: number): AppletReply => ({ data: EMPTY, sw });
export const OK = status(0x9000);

export function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function remaining(list: StoredList | undefined): number {
  return list ? list.entries.reduce((n, e) => n + (e.used ? 0 : 1), 0) : 0;
}

export function isLow(list: StoredList | undefined): boolean {
  return list !== undefined && remaining(list) <= list.threshold;
}

export function flags(ctx: AppletContext): number {
  const r = ctx.rec;
  return (
    (isLow(r.list) ? FLAG.LOW_CODES : 0) |
    (r.rsa ? FLAG.KEY_PAIR : 0) |
    (ctx.t.pinVerified ? FLAG.PIN_VERIFIED : 0) |
    (ctx.t.session ? FLAG.SESSION_OPEN : 0)
  );
}

export function inState(ctx: AppletContext, ...states: LifeCycle[]): boolean {
  return states.includes(ctx.rec.lifeCycle);
}

/** The GET STATE data object (profile section 5.4). Never contains a key, PIN or code. */
export function stateTlv(ctx: AppletContext): Buffer {
  const r = ctx.rec;
  const items: Array<readonly [number, Buffer]> = [
    [TAG.LIFE_CYCLE, u8(LIFE_CYCLE[r.lifeCycle])],
    [TAG.CARD_ID, Buffer.from(r.cardId, 'hex')],
    [TAG.PROFILE_VERSION, u8(PROFILE_VERSION)],
  ];
  if (r.n !== undefined) items.push([TAG.N, Buffer.from(r.n, 'latin1')]);
  items.push(
    [TAG.KEY_VERSION, u8(r.keyVersion)],
    [TAG.PIN_TRIES, u8(r.pinTriesLeft)],
    [TAG.ACTIVATION_TRIES, u8(r.activationTriesLeft)],
  );
  if (r.list) {
    items.push(
      [TAG.LIST_ID, Buffer.from(r.list.listId, 'hex')],
      [TAG.LIST_SEQ, u32(r.list.listSeq)],
      [TAG.LIST_EXPIRY, u32(r.list.expiry)],
      [TAG.LIST_ENTRIES, u16(r.list.entries.length)],
      [TAG.LIST_REMAINING, u16(remaining(r.list))],
      [TAG.LIST_THRESHOLD, u16(r.list.threshold)],
    );
  }
  items.push(
    [TAG.FLAGS, u8(flags(ctx))],
    [TAG.LAST_LIST_SEQ, u32(r.lastListSeq)],
    [TAG.CODES_ISSUED, u32(r.counters.codesIssued)],
    [TAG.WRONG_PINS, u32(r.counters.wrongPins)],
    [TAG.CHALLENGE_RESPONSES, u32(r.counters.challengeResponses)],
    [TAG.LISTS_COMMITTED, u32(r.counters.listsCommitted)],
    [TAG.CODES_BY_INDEX, u32(r.counters.codesByIndex)],
  );
  return encodeTlvs(items);
}

import { timingSafeEqual } from 'node:crypto';
import { aesCmac } from '../core/crypto/aes-cmac';
import { cardKeyChallengeMessage, codeChallengeMessage } from '../core/card/protocol/challenge-response';
import { decodePinBlock } from '../core/card/protocol/pin-block';
import {
  AES_KEY_LENGTH,
  CR_WITH_CARD_KEY,
  CR_WITH_CODE,
  PIN_BLOCK_LENGTH,
  PIN_REFERENCE,
} from '../core/card/protocol/profile.constants';
import { deriveChallengeKey } from '../core/card/protocol/sm-crypto';
import { SW } from '../core/card/status-words';
import type { AppletReply, LogicalCommand } from './card-apdu-io';
import type { StoredEntry } from './card-record';
import { flags, inState, OK, remaining, reply, status, u16, u8, type AppletContext } from './applet-context';

// Cardholder commands (profile section 8): PIN, activation with K, codes, challenge-response.

function sameSecret(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  // Compare fixed-width blocks so timing does not reveal the PIN length either.
  const px = Buffer.alloc(16, 0xff);
  const py = Buffer.alloc(16, 0xff);
  x.copy(px);
  y.copy(py);
  return timingSafeEqual(px, py) && x.length === y.length;
}

/** Checks a PIN, decrementing the counter before comparing (as OwnerPIN does). */
function checkPin(ctx: AppletContext, pin: string): AppletReply | undefined {
  if (ctx.rec.pinTriesLeft === 0) return status(SW.AUTH_BLOCKED);
  const right = sameSecret(pin, ctx.rec.pin);
  if (right) {
    if (ctx.rec.pinTriesLeft !== ctx.rec.pinTriesMax && !ctx.transact((d) => (d.pinTriesLeft = d.pinTriesMax)))
      return status(SW.UNKNOWN);
    ctx.t.pinVerified = true;
    return undefined;
  }
  ctx.t.pinVerified = false;
  const ok = ctx.transact((d) => {
    d.pinTriesLeft -= 1;
    d.counters.wrongPins += 1;
    if (d.pinTriesLeft === 0) {
      d.blockedFrom = 'active';
      d.lifeCycle = 'blocked';
    }
  });
  return ok ? status(0x63c0 | ctx.rec.pinTriesLeft) : status(SW.UNKNOWN);
}

function pinPreconditions(ctx: AppletContext, cmd: LogicalCommand): AppletReply | undefined {
  if (cmd.p1 !== 0 || cmd.p2 !== PIN_REFERENCE) return status(SW.WRONG_P1P2);
  if (inState(ctx, 'blocked')) return status(SW.AUTH_BLOCKED);
  if (!inState(ctx, 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  return undefined;
}

export function verifyPin(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  const pre = pinPreconditions(ctx, cmd);
  if (pre) return pre;
  if (cmd.data.length === 0) return ctx.t.pinVerified ? OK : status(0x63c0 | ctx.rec.pinTriesLeft);
  if (cmd.data.length !== PIN_BLOCK_LENGTH) return status(SW.WRONG_LENGTH);
  const pin = decodePinBlock(cmd.data);
  if (pin === undefined) return status(SW.WRONG_DATA);
  return checkPin(ctx, pin) ?? OK;
}

export function changePin(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  const pre = pinPreconditions(ctx, cmd);
  if (pre) return pre;
  if (cmd.data.length !== 2 * PIN_BLOCK_LENGTH) return status(SW.WRONG_LENGTH);
  const oldPin = decodePinBlock(cmd.data.subarray(0, PIN_BLOCK_LENGTH));
  const newPin = decodePinBlock(cmd.data.subarray(PIN_BLOCK_LENGTH));
  if (oldPin === undefined || newPin === undefined) return status(SW.WRONG_DATA);
  const failed = checkPin(ctx, oldPin);
  if (failed) return failed;
  return ctx.transact((d) => (d.pin = newPin)) ? OK : status(SW.UNKNOWN);
}

/** ACTIVATE: K from the mailer proves the cardholder has the mailer; sets the first PIN. */
export function activate(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  if (inState(ctx, 'blocked')) return status(SW.AUTH_BLOCKED);
  if (!inState(ctx, 'personalised')) return status(SW.CONDITIONS_NOT_SATISFIED);
  if (cmd.data.length !== AES_KEY_LENGTH + PIN_BLOCK_LENGTH) return status(SW.WRONG_LENGTH);
  const pin = decodePinBlock(cmd.data.subarray(AES_KEY_LENGTH));
  if (pin === undefined) return status(SW.WRONG_DATA);
  const k = cmd.data.subarray(0, AES_KEY_LENGTH);
  const cardKey = Buffer.from(ctx.rec.cardKey ?? '', 'hex');
  if (ctx.rec.activationTriesLeft === 0) return status(SW.AUTH_BLOCKED);
  if (cardKey.length !== AES_KEY_LENGTH || !timingSafeEqual(k, cardKey)) {
    const ok = ctx.transact((d) => {
      d.activationTriesLeft -= 1;
      if (d.activationTriesLeft === 0) {
        d.blockedFrom = 'personalised';
        d.lifeCycle = 'blocked';
      }
    });
    return ok ? status(0x63c0 | ctx.rec.activationTriesLeft) : status(SW.UNKNOWN);
  }
  const ok = ctx.transact((d) => {
    d.lifeCycle = 'active';
    d.pin = pin;
    d.pinTriesLeft = d.pinTriesMax;
    d.activationTriesLeft = d.activationTriesMax;
  });
  return ok ? OK : status(SW.UNKNOWN);
}

function codePreconditions(ctx: AppletContext): AppletReply | undefined {
  if (!inState(ctx, 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  if (!ctx.t.pinVerified) return status(SW.SECURITY_NOT_SATISFIED);
  if (!ctx.rec.list) return status(SW.REFERENCED_DATA_NOT_FOUND);
  return undefined;
}

/** Marks entry `index` used and counts it; the response prefix index || remaining || flags. */
function issue(ctx: AppletContext, index: number, byIndex: boolean, challenge: boolean): Buffer | undefined {
  const ok = ctx.transact((d) => {
    const e = d.list?.entries.find((x) => x.index === index);
    if (e) e.used = true;
    d.counters.codesIssued += 1;
    if (byIndex) d.counters.codesByIndex += 1;
    if (challenge) d.counters.challengeResponses += 1;
  });
  return ok ? Buffer.concat([u16(index), u16(remaining(ctx.rec.list)), u8(flags(ctx))]) : undefined;
}

function firstUnused(ctx: AppletContext): StoredEntry | undefined {
  return ctx.rec.list?.entries.find((e) => !e.used);
}

export function nextCode(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  const pre = codePreconditions(ctx);
  if (pre) return pre;
  const e = firstUnused(ctx);
  if (!e) return status(SW.REFERENCED_DATA_NOT_FOUND);
  const code = e.code;
  const head = issue(ctx, e.index, false, false);
  return head ? reply(Buffer.concat([head, Buffer.from(code, 'latin1')])) : status(SW.UNKNOWN);
}

export function codeByIndex(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  const pre = codePreconditions(ctx);
  if (pre) return pre;
  const index = (cmd.p1 << 8) | cmd.p2;
  const e = ctx.rec.list?.entries.find((x) => x.index === index);
  if (!e) return status(SW.REFERENCED_DATA_NOT_FOUND);
  if (e.used) return status(SW.CONDITIONS_NOT_SATISFIED);
  const code = e.code;
  const head = issue(ctx, index, true, false);
  return head ? reply(Buffer.concat([head, Buffer.from(code, 'latin1')])) : status(SW.UNKNOWN);
}

/** P1=01: MAC over the challenge and the next code (uses it up); P1=02: MAC with the card key only. */
export function challengeResponse(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (cmd.p2 !== 0 || (cmd.p1 !== CR_WITH_CODE && cmd.p1 !== CR_WITH_CARD_KEY)) return status(SW.WRONG_P1P2);
  if (cmd.data.length < 1 || cmd.data.length > 64) return status(SW.WRONG_LENGTH);
  if (!inState(ctx, 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  const cardId = Buffer.from(ctx.rec.cardId, 'hex');
  const key = deriveChallengeKey(Buffer.from(ctx.rec.cardKey ?? '', 'hex'), cardId);
  if (cmd.p1 === CR_WITH_CARD_KEY) {
    if (!ctx.transact((d) => (d.counters.challengeResponses += 1))) return status(SW.UNKNOWN);
    return reply(aesCmac(key, cardKeyChallengeMessage(cardId, cmd.data)));
  }
  const pre = codePreconditions(ctx);
  if (pre) return pre;
  const e = firstUnused(ctx);
  if (!e) return status(SW.REFERENCED_DATA_NOT_FOUND);
  const mac = aesCmac(key, codeChallengeMessage(cardId, e.index, cmd.data, e.code));
  const head = issue(ctx, e.index, false, true);
  return head ? reply(Buffer.concat([head, mac])) : status(SW.UNKNOWN);
}

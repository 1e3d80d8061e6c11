import { generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import { ecPublicKeyFromPoint } from '../core/card/protocol/ec-keys';
import { decodePinBlock } from '../core/card/protocol/pin-block';
import {
  AES_KEY_LENGTH,
  CHALLENGE_LENGTH,
  EC_POINT_LENGTH,
  KCV_LENGTH,
  PIN_BLOCK_LENGTH,
  PIN_REFERENCE,
  TRANSPORT_KEY_VERSION,
} from '../core/card/protocol/profile.constants';
import {
  cardCryptogram,
  deriveSessionKeys,
  keyCheckValue,
  smUnwrapCommand,
  smWrapResponse,
} from '../core/card/protocol/sm-crypto';
import { SW } from '../core/card/status-words';
import type { AppletReply, LogicalCommand } from './card-apdu-io';
import { inState, OK, reply, status, type AppletContext } from './applet-context';

// Issuer commands (profile sections 6 and 9): the secure channel and everything that needs it.

export function openSession(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  ctx.t.session = undefined;
  if (cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  if (cmd.data.length !== CHALLENGE_LENGTH) return status(SW.WRONG_LENGTH);
  if (inState(ctx, 'terminated')) return status(SW.CONDITIONS_NOT_SATISFIED);
  const blank = inState(ctx, 'blank');
  const keyHex = blank ? ctx.rec.transportKey : ctx.rec.cardKey;
  const expectedVersion = blank ? TRANSPORT_KEY_VERSION : ctx.rec.keyVersion;
  if (cmd.p1 !== expectedVersion || keyHex === undefined) return status(SW.REFERENCED_DATA_NOT_FOUND);
  const cardChallenge = ctx.random(CHALLENGE_LENGTH);
  const keys = deriveSessionKeys(Buffer.from(keyHex, 'hex'), cmd.data, cardChallenge);
  ctx.t.session = { keys, counter: 0, keyVersion: cmd.p1 };
  return reply(Buffer.concat([cardChallenge, cardCryptogram(keys, cmd.data, cardChallenge)]));
}

/**
 * Runs an SM command: verify and decrypt with the next counter value, run `handler` on the
 * plaintext, wrap its answer. Any MAC failure closes the session (6988); without a session, 6982.
 */
export function withSecureMessaging(
  ctx: AppletContext,
  cmd: LogicalCommand,
  handler: (plain: Buffer) => AppletReply,
): AppletReply {
  const s = ctx.t.session;
  if (!s) return status(SW.SECURITY_NOT_SATISFIED);
  const counter = s.counter + 1;
  const plain = smUnwrapCommand(s.keys, counter, cmd, cmd.data);
  if (plain === undefined) {
    ctx.t.session = undefined;
    return status(SW.SM_DATA_INCORRECT);
  }
  s.counter = counter;
  const r = handler(plain);
  return reply(smWrapResponse(s.keys, counter, r.data, r.sw), r.sw);
}

export function personalise(ctx: AppletContext, cmd: LogicalCommand, p: Buffer): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  if (!inState(ctx, 'blank') || ctx.t.session?.keyVersion !== TRANSPORT_KEY_VERSION)
    return status(SW.CONDITIONS_NOT_SATISFIED);
  const nLen = p[0] ?? 0;
  const expected = 1 + nLen + AES_KEY_LENGTH + 1 + EC_POINT_LENGTH + 2;
  if (nLen < 6 || nLen > 24 || p.length !== expected) return status(SW.WRONG_DATA);
  const n = p.subarray(1, 1 + nLen);
  let o = 1 + nLen;
  const cardKey = p.subarray(o, (o += AES_KEY_LENGTH));
  const keyVersion = p[o++] ?? 0;
  const caPoint = p.subarray(o, (o += EC_POINT_LENGTH));
  const pinTries = p[o++] ?? 0;
  const activationTries = p[o] ?? 0;
  const triesOk = (x: number): boolean => x >= 1 && x <= 15;
  if (
    !n.every((c) => c >= 0x21 && c <= 0x7e) ||
    keyVersion === TRANSPORT_KEY_VERSION ||
    !triesOk(pinTries) ||
    !triesOk(activationTries)
  ) {
    return status(SW.WRONG_DATA);
  }
  if (!ecPublicKeyFromPoint(caPoint)) return status(SW.WRONG_DATA);
  const ok = ctx.transact((d) => {
    d.n = n.toString('latin1');
    d.cardKey = cardKey.toString('hex');
    d.keyVersion = keyVersion;
    d.caPublicKey = caPoint.toString('hex');
    d.pinTriesMax = pinTries;
    d.pinTriesLeft = pinTries;
    d.activationTriesMax = activationTries;
    d.activationTriesLeft = activationTries;
    d.lifeCycle = 'personalised';
    delete d.transportKey;
  });
  return ok ? OK : status(SW.UNKNOWN);
}

/** ROTATE KEY: K' (sent under the session from K) replaces K; the session ends with this command. */
export function rotateKey(ctx: AppletContext, cmd: LogicalCommand, p: Buffer): AppletReply {
  if (!inState(ctx, 'personalised', 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  if (cmd.p2 !== 0 || cmd.p1 <= ctx.rec.keyVersion) return status(SW.WRONG_P1P2);
  if (p.length !== AES_KEY_LENGTH + KCV_LENGTH) return status(SW.WRONG_DATA);
  const newKey = p.subarray(0, AES_KEY_LENGTH);
  if (!timingSafeEqual(keyCheckValue(newKey), p.subarray(AES_KEY_LENGTH))) return status(SW.WRONG_DATA);
  const ok = ctx.transact((d) => {
    d.cardKey = newKey.toString('hex');
    d.keyVersion = cmd.p1;
  });
  return ok ? OK : status(SW.UNKNOWN);
}

/** GENERATE KEY PAIR: RSA-2048 for public-key list delivery; returns modulus || exponent. */
export function generateKeyPair(ctx: AppletContext, cmd: LogicalCommand, p: Buffer): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  if (p.length !== 0) return status(SW.WRONG_DATA);
  if (!inState(ctx, 'personalised', 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const jwk = publicKey.export({ format: 'jwk' });
  const modulus = Buffer.from(jwk.n ?? '', 'base64url');
  const exponent = Buffer.from(jwk.e ?? '', 'base64url');
  const ok = ctx.transact((d) => {
    d.rsa = {
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      modulus: modulus.toString('hex'),
      exponent: exponent.toString('hex'),
    };
  });
  return ok ? reply(Buffer.concat([modulus, exponent])) : status(SW.UNKNOWN);
}

/** RESET RETRY COUNTER: the issuer unblocks the card (manager action), optionally with a new PIN. */
export function resetRetryCounter(ctx: AppletContext, cmd: LogicalCommand, p: Buffer): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== PIN_REFERENCE) return status(SW.WRONG_P1P2);
  if (!inState(ctx, 'blocked', 'personalised', 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  const target = inState(ctx, 'blocked') ? (ctx.rec.blockedFrom ?? 'active') : ctx.rec.lifeCycle;
  let pin: string | undefined;
  if (p.length !== 0) {
    if (p.length !== PIN_BLOCK_LENGTH) return status(SW.WRONG_DATA);
    pin = decodePinBlock(p);
    if (pin === undefined) return status(SW.WRONG_DATA);
    if (target !== 'active') return status(SW.CONDITIONS_NOT_SATISFIED);
  }
  const ok = ctx.transact((d) => {
    d.lifeCycle = target === 'personalised' ? 'personalised' : 'active';
    delete d.blockedFrom;
    d.pinTriesLeft = d.pinTriesMax;
    d.activationTriesLeft = d.activationTriesMax;
    if (pin !== undefined) d.pin = pin;
  });
  return ok ? OK : status(SW.UNKNOWN);
}

/** TERMINATE CARD USAGE: irreversible; keys, PIN, key pair and list are erased. */
export function terminate(ctx: AppletContext, cmd: LogicalCommand, p: Buffer): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0 || p.length !== 0) return status(SW.WRONG_P1P2);
  if (inState(ctx, 'blank', 'terminated')) return status(SW.CONDITIONS_NOT_SATISFIED);
  const ok = ctx.transact((d) => {
    d.lifeCycle = 'terminated';
    delete d.cardKey;
    delete d.pin;
    delete d.rsa;
    delete d.list;
    delete d.blockedFrom;
    d.pinTriesLeft = 0;
    d.activationTriesLeft = 0;
  });
  return ok ? OK : status(SW.UNKNOWN);
}

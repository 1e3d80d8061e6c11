import {
  CLA_ISO,
  CLA_PLAIN,
  CLA_SM,
  INS,
  OTAC_AID,
  PROFILE_VERSION,
  TAG,
  CAPABILITY_EXTENDED_LENGTH,
  MAX_COMMAND_DATA,
} from '../core/card/protocol/profile.constants';
import { SW } from '../core/card/status-words';
import { encodeTlv, encodeTlvs } from '../core/card/tlv.codec';
import type { AppletReply, LogicalCommand } from './card-apdu-io';
import { activate, challengeResponse, changePin, codeByIndex, nextCode, verifyPin } from './applet-cardholder';
import { reply, stateTlv, status, u16, u8, type AppletContext } from './applet-context';
import {
  generateKeyPair,
  openSession,
  personalise,
  resetRetryCounter,
  rotateKey,
  terminate,
  withSecureMessaging,
} from './applet-issuer';
import { commitList, getReceipt, stageList } from './applet-list';

// The applet's command dispatcher (profile section 4): CLA/INS routing and life-cycle gating
// that applies to every command. Handlers live in applet-*.ts.

type Handler = (ctx: AppletContext, cmd: LogicalCommand) => AppletReply;
type SmHandler = (ctx: AppletContext, cmd: LogicalCommand, plain: Buffer) => AppletReply;

const ISO: ReadonlyMap<number, Handler> = new Map([
  [INS.VERIFY, verifyPin],
  [INS.CHANGE_PIN, changePin],
]);

const PLAIN: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [INS.GET_STATE, getState],
  [INS.ACTIVATE, activate],
  [INS.OPEN_SESSION, openSession],
  [INS.STAGE_LIST, stageList],
  [INS.COMMIT_LIST, commitList],
  [INS.GET_RECEIPT, getReceipt],
  [INS.NEXT_CODE, nextCode],
  [INS.CODE_BY_INDEX, codeByIndex],
  [INS.CHALLENGE_RESPONSE, challengeResponse],
]);

const SECURE: ReadonlyMap<number, SmHandler> = new Map<number, SmHandler>([
  [INS.GET_STATE, (ctx, cmd, p) => (p.length === 0 ? getState(ctx, cmd) : status(SW.WRONG_DATA))],
  [INS.PERSONALISE, personalise],
  [INS.ROTATE_KEY, rotateKey],
  [INS.GENERATE_KEY_PAIR, generateKeyPair],
  [INS.RESET_RETRY_COUNTER, resetRetryCounter],
  [INS.TERMINATE, terminate],
]);

/** Commands that end the secure session after answering (the key they ran under is gone). */
const ENDS_SESSION: ReadonlySet<number> = new Set([INS.PERSONALISE, INS.ROTATE_KEY, INS.TERMINATE]);

function fci(ctx: AppletContext): Buffer {
  const proprietary = encodeTlvs([
    [TAG.CARD_ID, Buffer.from(ctx.rec.cardId, 'hex')],
    [TAG.PROFILE_VERSION, u8(PROFILE_VERSION)],
    [TAG.MAX_COMMAND_DATA, u16(MAX_COMMAND_DATA)],
    [TAG.CAPABILITIES, u8(CAPABILITY_EXTENDED_LENGTH)],
  ]);
  return encodeTlv(
    TAG.FCI,
    encodeTlvs([
      [TAG.FCI_AID, OTAC_AID],
      [TAG.FCI_PROPRIETARY, proprietary],
    ]),
  );
}

function select(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  ctx.t.selected = false;
  ctx.t.pinVerified = false;
  ctx.t.session = undefined;
  ctx.t.staging = undefined;
  if (cmd.p1 !== 0x04 || cmd.p2 !== 0x00) return status(SW.WRONG_P1P2);
  if (!cmd.data.equals(OTAC_AID)) return status(SW.APPLET_NOT_FOUND);
  ctx.t.selected = true;
  return reply(fci(ctx));
}

function getState(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  return reply(stateTlv(ctx));
}

export function dispatch(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (cmd.cla === CLA_ISO && cmd.ins === INS.SELECT) return select(ctx, cmd);
  // Before the applet is selected the card manager knows no OTAC command.
  if (!ctx.t.selected) return status(SW.INS_NOT_SUPPORTED);
  const terminated = ctx.rec.lifeCycle === 'terminated';
  if (cmd.cla === CLA_ISO) {
    const h = ISO.get(cmd.ins);
    if (!h) return status(SW.INS_NOT_SUPPORTED);
    return terminated ? status(SW.CONDITIONS_NOT_SATISFIED) : h(ctx, cmd);
  }
  if (cmd.cla === CLA_PLAIN) {
    const h = PLAIN.get(cmd.ins);
    if (h) return terminated && cmd.ins !== INS.GET_STATE ? status(SW.CONDITIONS_NOT_SATISFIED) : h(ctx, cmd);
    // An SM-only command sent without secure messaging.
    return SECURE.has(cmd.ins) ? status(SW.SECURITY_NOT_SATISFIED) : status(SW.INS_NOT_SUPPORTED);
  }
  if (cmd.cla === CLA_SM) {
    const h = SECURE.get(cmd.ins);
    if (!h) return PLAIN.has(cmd.ins) ? status(SW.CLA_NOT_SUPPORTED) : status(SW.INS_NOT_SUPPORTED);
    if (terminated) return status(SW.CONDITIONS_NOT_SATISFIED);
    const r = withSecureMessaging(ctx, cmd, (plain) => h(ctx, cmd, plain));
    if (ENDS_SESSION.has(cmd.ins) && r.sw === SW.OK) ctx.t.session = undefined;
    return r;
  }
  return status(SW.CLA_NOT_SUPPORTED);
}

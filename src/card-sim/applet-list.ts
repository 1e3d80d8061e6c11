import { constants, createPrivateKey, privateDecrypt } from 'node:crypto';
import { aesCmac } from '../core/crypto/aes-cmac';
import { ecdsaVerify } from '../core/card/protocol/ec-keys';
import {
  deriveReceiptKey,
  ENVELOPE_CARD_KEY,
  envelopeKeysFromCardKey,
  envelopeKeysFromSecret,
  openEnvelope,
  parseEnvelope,
  receiptMessage,
  sha256,
  WRAPPED_SECRET_LENGTH,
  type EnvelopeKeys,
  type ParsedEnvelope,
} from '../core/card/protocol/list-envelope';
import {
  decodeListBody,
  decodeSignedList,
  issuerKeyMessage,
  type ListBody,
  type SignedList,
} from '../core/card/protocol/list-format';
import { MAX_STAGED_BYTES } from '../core/card/protocol/profile.constants';
import { SW } from '../core/card/status-words';
import type { AppletReply, LogicalCommand } from './card-apdu-io';
import type { StoredList } from './card-record';
import { inState, OK, reply, status, u32, type AppletContext } from './applet-context';

// List loading (profile section 7): STAGE LIST chunks into RAM-flagged staging, COMMIT LIST
// verifies everything and only then replaces the committed list in one transaction.

export function stageList(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (!inState(ctx, 'personalised', 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  const chunk = (cmd.p1 << 8) | cmd.p2;
  if (chunk === 0) ctx.t.staging = { parts: [], size: 0, next: 0 };
  const s = ctx.t.staging;
  if (!s || s.next !== chunk) {
    ctx.t.staging = undefined;
    return status(SW.WRONG_P1P2);
  }
  if (cmd.data.length === 0) return status(SW.WRONG_LENGTH);
  if (s.size + cmd.data.length > MAX_STAGED_BYTES) {
    ctx.t.staging = undefined;
    return status(SW.NOT_ENOUGH_MEMORY);
  }
  s.parts.push(Buffer.from(cmd.data));
  s.size += cmd.data.length;
  s.next += 1;
  return OK;
}

function envelopeKeys(
  ctx: AppletContext,
  env: ParsedEnvelope,
): { keys: EnvelopeKeys; receiptBase: Buffer } | AppletReply {
  const h = env.header;
  if (h.type === ENVELOPE_CARD_KEY) {
    if (h.keyVersion !== ctx.rec.keyVersion || !ctx.rec.cardKey) return status(SW.REFERENCED_DATA_NOT_FOUND);
    const k = Buffer.from(ctx.rec.cardKey, 'hex');
    return { keys: envelopeKeysFromCardKey(k, h.cardId, h.listSeq), receiptBase: k };
  }
  if (!ctx.rec.rsa || !env.wrapped) return status(SW.REFERENCED_DATA_NOT_FOUND);
  let p: Buffer;
  try {
    const key = createPrivateKey(ctx.rec.rsa.privateKeyPem);
    p = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, env.wrapped);
  } catch {
    return status(SW.SECURITY_NOT_SATISFIED);
  }
  if (p.length !== WRAPPED_SECRET_LENGTH) return status(SW.SECURITY_NOT_SATISFIED);
  const keys = envelopeKeysFromSecret(p);
  return { keys, receiptBase: keys.mac };
}

function receiptFor(list: StoredList, cardId: Buffer): Buffer {
  const msg = receiptMessage(cardId, list.listSeq, Buffer.from(list.listId, 'hex'), Buffer.from(list.bodyHash, 'hex'));
  return Buffer.concat([u32(list.listSeq), aesCmac(Buffer.from(list.receiptKey, 'hex'), msg)]);
}

export function commitList(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  if (!inState(ctx, 'personalised', 'active')) return status(SW.CONDITIONS_NOT_SATISFIED);
  const s = ctx.t.staging;
  ctx.t.staging = undefined; // one attempt per staging, pass or fail
  if (!s || s.size === 0) return status(SW.CONDITIONS_NOT_SATISFIED);
  const cardId = Buffer.from(ctx.rec.cardId, 'hex');
  let env: ParsedEnvelope;
  try {
    env = parseEnvelope(Buffer.concat(s.parts));
  } catch {
    return status(SW.WRONG_DATA);
  }
  if (!env.header.cardId.equals(cardId)) return status(SW.WRONG_DATA);
  if (env.header.listSeq <= ctx.rec.lastListSeq) return status(SW.CONDITIONS_NOT_SATISFIED);
  const k = envelopeKeys(ctx, env);
  if ('sw' in k) return k;
  const plain = openEnvelope(env, k.keys);
  if (plain === undefined) return status(SW.SECURITY_NOT_SATISFIED);
  let signed: SignedList;
  let body: ListBody;
  try {
    signed = decodeSignedList(plain);
    body = decodeListBody(signed.body);
  } catch {
    return status(SW.WRONG_DATA);
  }
  if (!body.cardId.equals(cardId) || body.listSeq !== env.header.listSeq) return status(SW.WRONG_DATA);
  const ca = Buffer.from(ctx.rec.caPublicKey ?? '', 'hex');
  if (!ecdsaVerify(ca, issuerKeyMessage(signed.issuerPublicKey), signed.caSignature))
    return status(SW.SECURITY_NOT_SATISFIED);
  if (!ecdsaVerify(signed.issuerPublicKey, signed.body, signed.issuerSignature))
    return status(SW.SECURITY_NOT_SATISFIED);
  const list: StoredList = {
    listId: body.listId.toString('hex'),
    listSeq: body.listSeq,
    expiry: body.expiry,
    threshold: body.threshold,
    codeLength: body.codeLength,
    entries: body.entries.map((e) => ({ index: e.index, code: e.code, used: false })),
    bodyHash: sha256(signed.body).toString('hex'),
    receiptKey: deriveReceiptKey(k.receiptBase, cardId, body.listSeq).toString('hex'),
  };
  const ok = ctx.transact((d) => {
    d.list = list;
    d.lastListSeq = list.listSeq;
    d.counters.listsCommitted += 1;
  });
  return ok ? reply(receiptFor(list, cardId)) : status(SW.UNKNOWN);
}

/** GET RECEIPT: the committed list's receipt again, for a host that lost the COMMIT response. */
export function getReceipt(ctx: AppletContext, cmd: LogicalCommand): AppletReply {
  if (cmd.p1 !== 0 || cmd.p2 !== 0) return status(SW.WRONG_P1P2);
  const list = ctx.rec.list;
  if (!list) return status(SW.REFERENCED_DATA_NOT_FOUND);
  return reply(receiptFor(list, Buffer.from(ctx.rec.cardId, 'hex')));
}

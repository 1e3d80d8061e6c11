import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { certifyIssuerKey } from '../../../src/core/card/raw-card-key-port';
import { ecPublicPoint } from '../../../src/core/card/protocol/ec-keys';
import { prepareList, verifyListReceipt } from '../../../src/core/card/protocol/list-preparation';
import { CardError } from '../../../src/core/card/card-error';
import { encodeCommand } from '../../../src/core/card/apdu.codec';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { cardIdFromAtr } from '../../../src/card-sim/card-record';
import { makeFixture, PIN } from './support/in-process-card';

async function swOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CardError) return e.sw;
    throw e;
  }
  throw new Error('expected a CardError');
}

describe('OTAC protocol against the virtual card (in process)', () => {
  it('selects the applet and reads the blank state; the ATR names the same card', async () => {
    const fx = makeFixture();
    const info = await fx.host.select();
    expect(info.cardId).toBe(fx.cardId.toString('hex'));
    expect(cardIdFromAtr(fx.card.atr())?.toString('hex')).toBe(info.cardId);
    const s = await fx.host.getState();
    expect(s.lifeCycle).toBe('blank');
    expect(s.n).toBeUndefined();
    expect(s.list).toBeUndefined();
  });

  it('answers 6D00 before SELECT and 6A82 for another AID', async () => {
    const fx = makeFixture();
    expect(await swOf(fx.host.getState())).toBe(0x6d00);
    const r = fx.card.process(
      encodeCommand({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: Buffer.from('a000000003', 'hex'), ne: 256 }),
    );
    expect(r.subarray(-2).toString('hex')).toBe('6a82');
  });

  it('personalises a blank card under its transport key, only once', async () => {
    const fx = makeFixture();
    await fx.personalise();
    const s = await fx.host.getState();
    expect(s).toMatchObject({
      lifeCycle: 'personalised',
      n: 'N-4711-0815',
      keyVersion: 1,
      pinTriesLeft: 3,
      activationTriesLeft: 5,
    });
    expect(fx.saved().transportKey).toBeUndefined();
    expect(await swOf(fx.host.openSecureChannel(fx.port, fx.transportKey, 0))).toBe(0x6a88);
    // PERSONALISE without secure messaging is refused outright.
    const plain = fx.card.process(encodeCommand({ cla: 0x80, ins: 0xe0, p1: 0, p2: 0, data: Buffer.alloc(20) }));
    expect(plain.toString('hex')).toBe('6982');
  });

  it('activation: a wrong K costs a try (63C4), the right K activates and resets the counter', async () => {
    const fx = makeFixture();
    await fx.personalise();
    const wrong = Buffer.from(fx.kBytes);
    wrong[0] = (wrong[0] ?? 0) ^ 1;
    const err = await fx.host.activate(wrong, PIN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardError);
    expect((err as CardError).sw).toBe(0x63c4);
    expect((err as CardError).code).toBe('CARD_ACTIVATION_KEY_WRONG');
    expect((await fx.host.getState()).activationTriesLeft).toBe(4);
    await fx.host.activate(fx.kBytes, PIN);
    const s = await fx.host.getState();
    expect(s.lifeCycle).toBe('active');
    expect(s.activationTriesLeft).toBe(5);
  });

  it('PIN: 63C2, 63C1, 63C0, then 6983 and the card is blocked until the issuer unblocks it', async () => {
    const fx = makeFixture();
    await fx.activate();
    const sws: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) sws.push(await swOf(fx.host.verifyPin('0000')));
    expect(sws).toEqual([0x63c2, 0x63c1, 0x63c0, 0x6983]);
    expect(await swOf(fx.host.verifyPin(PIN))).toBe(0x6983);
    const s = await fx.host.getState();
    expect(s.lifeCycle).toBe('blocked');
    expect(s.counters.wrongPins).toBe(3);
    const sc = await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
    await sc.resetRetryCounter();
    await fx.host.verifyPin(PIN);
    expect((await fx.host.getState()).lifeCycle).toBe('active');
  });

  it('CHANGE REFERENCE DATA: a wrong old PIN costs a try; the new PIN replaces the old one', async () => {
    const fx = makeFixture();
    await fx.activate();
    expect(await swOf(fx.host.changePin('9999', '1357'))).toBe(0x63c2);
    expect(await fx.host.pinTriesLeft()).toBe(2);
    await fx.host.changePin(PIN, '1357');
    expect(await fx.host.pinTriesLeft()).toBeUndefined(); // verified by the change
    fx.card.reset();
    await fx.host.select();
    expect(await swOf(fx.host.verifyPin(PIN))).toBe(0x63c2);
    await fx.host.verifyPin('1357');
    expect((await fx.host.getState()).pinTriesLeft).toBe(3);
  });

  it('secure messaging: a tampered MAC gets 6988 and closes the session; a replayed command gets 6988', async () => {
    const fx = makeFixture();
    await fx.activate();
    let sc = await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
    fx.transport.intercept = (c, fwd) => {
      const t = Buffer.from(c);
      if (t[0] === 0x84) t[t.length - 2] = (t[t.length - 2] ?? 0) ^ 0x01; // last MAC byte (before Le)
      return fwd(t);
    };
    expect(await swOf(sc.readState())).toBe(0x6988);
    fx.transport.intercept = undefined;
    expect(sc.isOpen).toBe(false);
    const raw = fx.card.process(encodeCommand({ cla: 0x84, ins: 0xca, p1: 0, p2: 0, data: Buffer.alloc(16), ne: 256 }));
    expect(raw.toString('hex')).toBe('6982');

    sc = await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
    await sc.readState();
    const recorded = fx.transport.sent[fx.transport.sent.length - 1] as Buffer;
    expect(recorded[0]).toBe(0x84);
    expect(fx.card.process(recorded).subarray(-2).toString('hex')).toBe('6988');
  });

  it('rejects a response whose R-MAC was tampered with', async () => {
    const fx = makeFixture();
    await fx.activate();
    const sc = await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
    fx.transport.intercept = (c, fwd) => {
      const r = Buffer.from(fwd(c));
      if (c[0] === 0x84 && r.length > 2) r[0] = (r[0] ?? 0) ^ 0x80;
      return r;
    };
    const err = await sc.readState().catch((e: unknown) => e);
    expect((err as CardError).code).toBe('CARD_SM_RESPONSE_INVALID');
  });

  it('loads a list: staged, committed, receipt verified; the envelope cannot be replayed', async () => {
    const fx = makeFixture();
    await fx.activate();
    const list = await fx.prepare(1, 20);
    const progress: number[] = [];
    const receipt = await fx.host.loadList(list.envelope, (sent) => progress.push(sent));
    await verifyListReceipt(fx.port, list, receipt);
    expect(progress[progress.length - 1]).toBe(list.envelope.length);
    const s = await fx.host.getState();
    expect(s.list).toMatchObject({
      listId: list.listId.toString('hex'),
      listSeq: 1,
      entries: 20,
      remaining: 20,
      threshold: 5,
    });
    expect(
      await verifyListReceipt(fx.port, list, { ...receipt, mac: Buffer.alloc(16) }).catch(
        (e: unknown) => (e as CardError).code,
      ),
    ).toBe('CARD_RECEIPT_INVALID');
    expect(await swOf(fx.host.loadList(list.envelope))).toBe(0x6985);
    expect(await fx.host.getReceipt()).toEqual(receipt);
  });

  it('refuses a list whose issuer key the CA did not certify, or that names another card', async () => {
    const fx = makeFixture();
    await fx.activate();
    const rogueCa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rogue = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rogueIssuer = fx.port.importIssuerKey(
      rogue.privateKey,
      certifyIssuerKey(rogueCa.privateKey, ecPublicPoint(rogue.publicKey)),
    );
    const spec1 = {
      cardId: fx.cardId,
      listSeq: 1,
      listId: randomBytes(16),
      expiry: 1_900_000_000,
      threshold: 2,
      length: 5,
      digits: 6,
    };
    const seal = { mode: 'card-key', cardKey: fx.cardKey, keyVersion: 1 } as const;
    expect(await swOf(fx.host.loadList((await prepareList(fx.port, rogueIssuer, spec1, seal)).envelope))).toBe(0x6982);
    const otherCard = { ...spec1, cardId: randomBytes(8) };
    expect(await swOf(fx.host.loadList((await prepareList(fx.port, fx.issuerKey, otherCard, seal)).envelope))).toBe(
      0x6a80,
    );
    const spec = await fx.prepare(1, 5);
    const tampered = Buffer.from(spec.envelope);
    tampered[40] = (tampered[40] ?? 0) ^ 1;
    expect(await swOf(fx.host.loadList(tampered))).toBe(0x6982);
    expect((await fx.host.getState()).list).toBeUndefined();
  });

  it('a card powered off mid-load keeps its old list; the push can simply be retried', async () => {
    const fx = makeFixture();
    await fx.activate();
    const first = await fx.prepare(1, 10);
    await fx.host.loadList(first.envelope);
    const second = await fx.prepare(2, 30);
    let stages = 0;
    fx.transport.intercept = (c, fwd) => {
      if (c[1] === 0x52 && ++stages === 2) {
        fx.card.powerOff();
        return Buffer.alloc(0); // the reader sees nothing back
      }
      return fwd(c);
    };
    // Small chunks so the envelope needs several STAGE commands.
    const small = new OtacCard(fx.transport, { readerExtendedLength: false, maxChunk: 200 });
    await small.select();
    const err = await small.loadList(second.envelope).catch((e: unknown) => e);
    expect((err as CardError).code).toBe('CARD_RESPONSE_TOO_SHORT');
    fx.transport.intercept = undefined;
    fx.card.powerOn();
    await fx.host.select();
    expect(await swOf(fx.host.loadList(Buffer.alloc(0)))).toBe(0x6985); // nothing staged survived
    const s = await fx.host.getState();
    expect(s.list).toMatchObject({ listSeq: 1, entries: 10 });
    expect(fx.saved().list?.listSeq).toBe(1);
    const receipt = await fx.host.loadList(second.envelope);
    await verifyListReceipt(fx.port, second, receipt);
    expect((await fx.host.getState()).list?.entries).toBe(30);
  });

  it('hands out the next code and code by index behind the PIN, marking them used', async () => {
    const fx = makeFixture();
    await fx.activate();
    const list = await fx.prepare(1, 8, undefined, 4);
    await fx.host.loadList(list.envelope);
    expect(await swOf(fx.host.nextCode())).toBe(0x6982);
    await fx.host.verifyPin(PIN);
    const expected = list.codes;
    const c1 = await fx.host.nextCode();
    expect(c1).toMatchObject({ index: 1, code: expected[0], remaining: 7, lowCodes: false });
    const c3 = await fx.host.codeByIndex(3);
    expect(c3).toMatchObject({ index: 3, code: expected[2], remaining: 6 });
    expect(await swOf(fx.host.codeByIndex(3))).toBe(0x6985);
    expect(await swOf(fx.host.codeByIndex(99))).toBe(0x6a88);
    expect((await fx.host.nextCode()).index).toBe(2);
    const c4 = await fx.host.nextCode();
    expect(c4).toMatchObject({ index: 4, remaining: 4, lowCodes: true });
    const s = await fx.host.getState();
    expect(s.counters).toMatchObject({ codesIssued: 4, codesByIndex: 1 });
    expect(s.lowCodes).toBe(true);
    for (let i = 0; i < 4; i++) await fx.host.nextCode();
    expect(await swOf(fx.host.nextCode())).toBe(0x6a88);
    expect(fx.saved().list?.entries.every((e) => e.used)).toBe(true);
  });

  it('reads the counters authenticated under secure messaging, equal to the plain ones', async () => {
    const fx = makeFixture();
    await fx.activate();
    await fx.host.loadList((await fx.prepare(1, 6)).envelope);
    await fx.host.verifyPin(PIN);
    await fx.host.nextCode();
    const sc = await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
    const authed = await sc.readState();
    const plain = await fx.host.getState();
    expect(authed.counters).toEqual(plain.counters);
    expect(authed.counters.codesIssued).toBe(1);
    expect(authed.list?.remaining).toBe(5);
  });

  it('key rotation: afterwards only the new key opens a session or a list', async () => {
    const fx = makeFixture();
    await fx.activate();
    const newBytes = randomBytes(16);
    const newKey = fx.port.importAesKey(newBytes);
    const sc = await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
    await sc.rotateKey(newKey, 2);
    expect(sc.isOpen).toBe(false);
    expect(await swOf(fx.host.openSecureChannel(fx.port, fx.cardKey, 1))).toBe(0x6a88);
    const wrongKey = await fx.host.openSecureChannel(fx.port, fx.cardKey, 2).catch((e: unknown) => e);
    expect((wrongKey as CardError).code).toBe('CARD_AUTH_FAILED');
    const oldList = await fx.prepare(1, 5);
    expect(await swOf(fx.host.loadList(oldList.envelope))).toBe(0x6a88);
    const forged = await fx.prepare(1, 5, { mode: 'card-key', cardKey: fx.cardKey, keyVersion: 2 });
    expect(await swOf(fx.host.loadList(forged.envelope))).toBe(0x6982);
    const good = await fx.prepare(1, 5, { mode: 'card-key', cardKey: newKey, keyVersion: 2 });
    await verifyListReceipt(fx.port, good, await fx.host.loadList(good.envelope));
    expect((await (await fx.host.openSecureChannel(fx.port, newKey, 2)).readState()).keyVersion).toBe(2);
  });

  it('public-key mode: the card generates RSA-2048, the list comes under an OAEP-wrapped session key', async () => {
    const fx = makeFixture();
    await fx.activate();
    const sc = await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
    const pub = await sc.generateKeyPair();
    expect(pub.modulus.length).toBe(256);
    expect((await fx.host.getState()).keyPair).toBe(true);
    const list = await fx.prepare(1, 12, { mode: 'public-key', cardPublicKey: pub });
    expect(list.envelope[0]).toBe(0x02);
    await verifyListReceipt(fx.port, list, await fx.host.loadList(list.envelope));
    await fx.host.verifyPin(PIN);
    expect((await fx.host.nextCode()).index).toBe(1);
  });

  it('challenge-response with the next code and with the card key', async () => {
    const fx = makeFixture();
    await fx.activate();
    const list = await fx.prepare(1, 6);
    await fx.host.loadList(list.envelope);
    const { codeChallengeMessage, cardKeyChallengeMessage } =
      await import('../../../src/core/card/protocol/challenge-response');
    const expected = list.codes;
    const challenge = randomBytes(8);
    expect(await swOf(fx.host.challengeWithCode(challenge))).toBe(0x6982);
    await fx.host.verifyPin(PIN);
    const r = await fx.host.challengeWithCode(challenge);
    expect(r.index).toBe(1);
    const msg = codeChallengeMessage(fx.cardId, 1, challenge, expected[0] ?? '');
    expect(await fx.port.verifyChallengeResponse(fx.cardKey, fx.cardId, msg, r.mac)).toBe(true);
    const wrongCode = codeChallengeMessage(fx.cardId, 1, challenge, expected[1] ?? '');
    expect(await fx.port.verifyChallengeResponse(fx.cardKey, fx.cardId, wrongCode, r.mac)).toBe(false);
    const mac = await fx.host.challengeWithCardKey(challenge);
    expect(
      await fx.port.verifyChallengeResponse(fx.cardKey, fx.cardId, cardKeyChallengeMessage(fx.cardId, challenge), mac),
    ).toBe(true);
    expect((await fx.host.getState()).counters.challengeResponses).toBe(2);
    expect((await fx.host.nextCode()).index).toBe(2); // the challenge used code 1 up
  });

  it('terminate is final', async () => {
    const fx = makeFixture();
    await fx.activate();
    await (await fx.host.openSecureChannel(fx.port, fx.cardKey, 1)).terminate();
    expect((await fx.host.getState()).lifeCycle).toBe('terminated');
    expect(await swOf(fx.host.verifyPin(PIN))).toBe(0x6985);
    expect(fx.saved().cardKey).toBeUndefined();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { INS } from '../../../src/core/card/protocol/profile.constants';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import type { CardRecord, CardRepository } from '../../../src/core/cards/card.repository';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import { PushService } from '../../../src/core/push/push.service';
import { SealModeService } from '../../../src/core/push/seal-mode.service';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { CHEAP_SCRYPT, personaliseAwaiting, prepareKeystore } from '../../support/activation-cards';
import { EventRecorder } from '../../support/event-recorder';
import { freshWorkstation } from '../../support/fresh-workstation';
import { publicKeyOnCard } from '../../support/list-envelopes';
import { addOperator, auditRows, setupOfficer } from '../../support/operators';
import { TearingReader, type Exchange } from '../../support/tearing-reader';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { useTestbed, type Testbed } from '../../support/testbed';

// Attacks on public-key mode and cards pulled mid-way (docs/push.md, "Public-key mode"), through
// pcscd + vpcd. The key kept on record must be one this very card proved in its R-MACed answer to
// GENERATE KEY PAIR: another card's genuine answer spliced into the session, or this card's own
// answer from an earlier session replayed, is refused with nothing changed. A card pulled while it
// makes its key pair, or dead after committing a type 02 list, leaves card and database in
// agreement, and the next presentation finishes the job.

const PIN = '27182818';
const GENERATE_APDU = 3; // SELECT, GET STATE, OPEN SESSION, GENERATE KEY PAIR
const COMMIT_APDU = 3; // SELECT, GET STATE, STAGE LIST (one extended chunk), COMMIT LIST

describe('public-key mode under attack and torn (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let ws: DeskWorkstation;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let pcsc: PcscReaderService;
  let recorder: EventRecorder;
  let cards: CardRepository;
  let sealMode: SealModeService;
  let push: PushService;
  let tear: TearingReader;
  let exchanges: Exchange[];
  let card: TestCard;
  let other: TestCard;
  let record: CardRecord;
  const actor = { operatorId: 1, operator: 'maria', role: 'manager' as const };

  const reader = () => tear.readerName;
  const current = async () => (await cards.byId(record.id))!;
  const keyOnCard = (c: TestCard) => publicKeyOnCard(readCard(c).rsa);
  const lists = () =>
    t.sql.all<{ seq: number; state: string; sealed_for: string }>(
      'SELECT seq, state, sealed_for FROM code_lists WHERE card_ref = ? ORDER BY seq',
      record.id,
    );
  const nextCodeAccepted = async () => {
    const code = await pcsc.withCard(reader(), async (x) => {
      const c = new OtacCard(x);
      await c.select();
      await c.verifyPin(PIN);
      return c.nextCode();
    });
    return ws.verification.verify(record.n, code.code, code.index);
  };
  /** The card's answer to GENERATE KEY PAIR in `log`: its response and any GET RESPONSE parts after it. */
  const generateAnswer = (log: readonly Exchange[]): Buffer[] => {
    const start = log.findIndex((e) => e.command[1] === INS.GENERATE_KEY_PAIR);
    expect(start).toBeGreaterThanOrEqual(0);
    const parts = [log[start]!.response];
    for (const e of log.slice(start + 1)) {
      if (e.command[1] !== INS.GET_RESPONSE) break;
      parts.push(e.response);
    }
    return parts;
  };
  /** A man in the middle: this card's answer to GENERATE KEY PAIR replaced, part by part, by `parts`. */
  const substitute = (parts: Buffer[]) => {
    let next = -1;
    tear.rewrite = (command, response) => {
      if (command[1] === INS.GENERATE_KEY_PAIR) next = 0;
      else if (command[1] !== INS.GET_RESPONSE) next = -1;
      return next >= 0 && next < parts.length ? parts[next++]! : response;
    };
  };
  const attackRefused = async () => {
    const before = await current();
    const failedBefore = (await auditRows(ws)).filter(
      (r) => r.action === 'cards.seal_mode' && r.outcome === 'failed',
    ).length;
    const err = await sealMode.setSealMode(reader(), 'public-key', actor).catch((x: unknown) => x);
    tear.rewrite = null;
    expect(err).toMatchObject({ code: 'CARD_SM_RESPONSE_INVALID' });
    expect(await current()).toEqual(before); // nothing changed on record
    const failed = (await auditRows(ws)).filter((r) => r.action === 'cards.seal_mode' && r.outcome === 'failed');
    expect(failed).toHaveLength(failedBefore + 1);
    // The card itself did make a key pair, which the desk never kept: lists still reach it under K.
    expect(keyOnCard(card)).not.toBeNull();
    expect(keyOnCard(card)).not.toBe(before.publicKey);
    await ws.lists.queueNext(record.id, 'manual', actor);
    expect(await push.pushNext(reader(), actor)).toMatchObject({ outcome: 'pushed' });
    expect((await lists()).at(-1)).toMatchObject({ state: 'active', sealed_for: `card:${record.n}` });
    expect(await nextCodeAccepted()).toMatchObject({ accepted: true });
  };

  beforeAll(async () => {
    bed = await useTestbed('public-key-attacks');
    t = await freshWorkstation({ readers: 'none', keystoreScryptCost: CHEAP_SCRYPT });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    pcsc = new PcscReaderService({ timeoutMs: 3000 });
    recorder = new EventRecorder(pcsc);
    pcsc.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
    exchanges = [];
    tear = new TearingReader(pcsc, bed, 0, (e) => exchanges.push(e));
    cards = t.sql.repos.cards;
    const audit = t.sql.audit;
    const atomically = t.sql.repos.atomically;
    sealMode = new SealModeService({ readers: tear.readers, keystore: ws.keystore, cards, audit, atomically });
    push = new PushService({
      readers: tear.readers,
      keystore: ws.keystore,
      cards,
      listRepo: t.sql.repos.lists,
      lists: ws.lists,
      audit,
      atomically,
    });
    // The customer's card, active and holding list 1, as activation leaves it.
    card = createTestCard(bed.cardDir);
    await tear.put(card.file, false);
    const awaiting = await personaliseAwaiting(ws, reader(), { readers: pcsc });
    const parsed = parseMailerKey(awaiting.mailerKey);
    if (!parsed.ok) throw new Error('mailer key does not parse');
    await pcsc.withCard(reader(), async (x) => {
      const c = new OtacCard(x);
      await c.select();
      await c.activate(parsed.key, PIN);
    });
    record = (await cards.transition(awaiting.record.id, ['awaiting_activation'], 'active', new Date().toISOString()))!;
    await ws.lists.queueNext(record.id, 'first', actor);
    expect(await push.pushNext(reader(), actor)).toMatchObject({ outcome: 'pushed', seq: 1 });
    // Another customer's card in the second reader.
    other = createTestCard(bed.cardDir);
    const slot1 = new TearingReader(pcsc, bed, 1);
    await slot1.put(other.file, false);
    await personaliseAwaiting(ws, slot1.readerName, { readers: pcsc });
  }, 120_000);

  afterAll(async () => {
    await pcsc?.stop();
    await t?.dispose();
    await bed?.close();
  });

  it('refuses another card’s genuine, R-MACed key pair answer spliced into this card’s session', async () => {
    // The other card's answer, made under its own K in its own session.
    const log: Exchange[] = [];
    await pcsc.withCard(bed.readerName(1), async (x) => {
      const c = new OtacCard({
        transmit: async (command) => {
          const response = await x.transmit(command);
          log.push({ command, response });
          return response;
        },
      });
      const state = (await c.select(), await c.getState());
      const port = new KeystoreCardKeyPort(ws.keystore.current());
      const sm = await c.openSecureChannel(port, await port.cardKey(state.n ?? ''), state.keyVersion);
      await sm.generateKeyPair();
    });
    expect(keyOnCard(other)).not.toBeNull();
    substitute(generateAnswer(log));
    await attackRefused();
  });

  it('refuses this card’s own answer from an earlier session, replayed', async () => {
    exchanges.length = 0;
    const genuine = await sealMode.setSealMode(reader(), 'public-key', actor);
    expect((await current()).publicKey).toBe(keyOnCard(card));
    const earlier = generateAnswer(exchanges);
    await sealMode.setSealMode(reader(), 'card-key', actor);
    expect(await current()).toMatchObject({ sealMode: 'card-key', publicKey: null });
    substitute(earlier);
    await attackRefused();
    expect(genuine.keyFingerprint).not.toBeNull();
  });

  it.each([{ how: 'pull' as const }, { how: 'die' as const }])(
    'a card $how while it makes its key pair: card and database agree, the next attempt generates again',
    async ({ how }) => {
      await sealMode.setSealMode(reader(), 'public-key', actor);
      const recorded = (await current()).publicKey;
      expect(recorded).toBe(keyOnCard(card));
      await tear.takeOut();
      await tear.put(card.file, how === 'die');
      tear.cut = { at: GENERATE_APDU, how };
      const err = await sealMode.setSealMode(reader(), 'public-key', actor).catch((x: unknown) => x);
      tear.cut = null;
      expect((err as Error).message).toMatch(/stays in card-key mode/);
      // Before GENERATE the desk stopped sealing for the old key. The card holds the old pair
      // (pulled before the command) or, dead while making it, the old or a new one the desk never
      // saw: whichever, the record says card-key mode, which the card always accepts.
      expect(await current()).toMatchObject({ sealMode: 'card-key', publicKey: null });
      if (how === 'pull') expect(keyOnCard(card)).toBe(recorded);
      else expect(keyOnCard(card)).not.toBeNull();

      await tear.takeOut();
      await tear.put(card.file, false);
      await ws.lists.queueNext(record.id, 'manual', actor);
      expect(await push.pushNext(reader(), actor)).toMatchObject({ outcome: 'pushed' });
      expect((await lists()).at(-1)).toMatchObject({ state: 'active', sealed_for: `card:${record.n}` });
      await sealMode.setSealMode(reader(), 'public-key', actor);
      expect((await current()).publicKey).toBe(keyOnCard(card));
      expect(await nextCodeAccepted()).toMatchObject({ accepted: true });
    },
    60_000,
  );

  it('a card pulled before the desk changed anything: public-key mode stays as it was, and the desk says so', async () => {
    const before = await current();
    expect(before.sealMode).toBe('public-key');
    tear.cut = { at: 1, how: 'pull' }; // before GET STATE
    const err = await sealMode.setSealMode(reader(), 'public-key', actor).catch((x: unknown) => x);
    tear.cut = null;
    expect((err as Error).message).toMatch(/Nothing was changed/);
    expect(await current()).toEqual(before);
    expect(keyOnCard(card)).toBe(before.publicKey);
    await tear.put(card.file, false);
  }, 60_000);

  it('a type 02 list the card committed while the desk never heard is confirmed from its R-MACed state', async () => {
    expect((await current()).sealMode).toBe('public-key');
    const queued = await ws.lists.queueNext(record.id, 'manual', actor);
    await tear.takeOut();
    await tear.put(card.file, true);
    tear.cut = { at: COMMIT_APDU, how: 'die' };
    await expect(push.pushNext(reader(), actor)).rejects.toThrow(/present the card again/i);
    tear.cut = null;
    expect(readCard(card).list?.listSeq).toBe(queued.list.seq);
    expect((await lists()).at(-1)).toMatchObject({ seq: queued.list.seq, state: 'staged' });

    await tear.takeOut();
    await tear.put(card.file, false);
    expect(await push.pushNext(reader(), actor)).toMatchObject({ outcome: 'resumed', seq: queued.list.seq });
    expect((await lists()).at(-1)).toMatchObject({ seq: queued.list.seq, state: 'active' });
    expect((await lists()).at(-1)?.sealed_for).toMatch(/^rsa:/);
    expect(await nextCodeAccepted()).toMatchObject({ accepted: true });
  }, 60_000);
});

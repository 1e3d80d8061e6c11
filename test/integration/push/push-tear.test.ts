import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import type { CardRecord, CardRepository } from '../../../src/core/cards/card.repository';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { PushService } from '../../../src/core/push/push.service';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { CHEAP_SCRYPT, personaliseAwaiting, prepareKeystore } from '../../support/activation-cards';
import { EventRecorder } from '../../support/event-recorder';
import { addOperator, setupOfficer } from '../../support/operators';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { TearingReader } from '../../support/tearing-reader';
import { useTestbed, type Testbed } from '../../support/testbed';

// The tear test of the push (issue 9, "Done when"): the card is taken out before each APDU of a
// push, and — separately — the card dies after it processed each APDU but before its answer came
// back (it committed; the desk never heard). At every position the card (its own file) and the
// database agree afterwards — the issuer's active list is one the card holds, never one it does
// not — and presenting the card again finishes the push: the list the card holds is the active
// one, and its next code is accepted by verify.

const SLOT = 0;
const PIN = '31415926';
const PUSH_APDUS = 4; // SELECT, GET STATE, STAGE LIST (one extended chunk), COMMIT LIST

describe('a push torn at every APDU (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let ws: DeskWorkstation;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let pcsc: PcscReaderService;
  let recorder: EventRecorder;
  let push: PushService;
  let cards: CardRepository;
  let card: TestCard;
  let record: CardRecord;
  let tear: TearingReader;
  const actor = { operatorId: 1, operator: 'clara', role: 'clerk' as const };

  const reader = () => tear.readerName;
  const lists = () =>
    t.sql.all<{ seq: number; state: string }>(
      'SELECT seq, state FROM code_lists WHERE card_ref = ? ORDER BY seq',
      record.id,
    );
  const activeSeq = async () => (await lists()).find((l) => l.state === 'active')?.seq;
  const nextCodeAccepted = async () => {
    const code = await pcsc.withCard(reader(), async (t) => {
      const c = new OtacCard(t);
      await c.select();
      await c.verifyPin(PIN);
      return c.nextCode();
    });
    return ws.verification.verify(record.n, code.code, code.index);
  };

  beforeAll(async () => {
    bed = await useTestbed('push-tear');
    t = await freshWorkstation({ readers: 'none', keystoreScryptCost: CHEAP_SCRYPT });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    pcsc = new PcscReaderService({ timeoutMs: 3000 });
    recorder = new EventRecorder(pcsc);
    pcsc.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
    tear = new TearingReader(pcsc, bed, SLOT);
    cards = t.sql.repos.cards;
    push = new PushService({
      readers: tear.readers,
      keystore: ws.keystore,
      cards,
      listRepo: t.sql.repos.lists,
      lists: ws.lists,
      audit: t.sql.audit,
      atomically: t.sql.repos.atomically,
    });
    // An active card holding list 1, as activation leaves it.
    card = createTestCard(bed.cardDir);
    await tear.put(card.file, false);
    const awaiting = await personaliseAwaiting(ws, reader(), { readers: pcsc });
    const parsed = parseMailerKey(awaiting.mailerKey);
    if (!parsed.ok) throw new Error('mailer key does not parse');
    await pcsc.withCard(reader(), async (t) => {
      const c = new OtacCard(t);
      await c.select();
      await c.activate(parsed.key, PIN);
    });
    const active = await cards.transition(
      awaiting.record.id,
      ['awaiting_activation'],
      'active',
      new Date().toISOString(),
    );
    if (!active) throw new Error('card row did not become active');
    record = active;
    await ws.lists.queueNext(record.id, 'first', actor);
    expect(await push.pushNext(reader(), actor)).toMatchObject({ outcome: 'pushed', seq: 1 });
  }, 90_000);

  afterEach(() => {
    tear.cut = null;
  });
  afterAll(async () => {
    await pcsc?.stop();
    await t?.dispose();
    await bed?.close();
  });

  it('a clean push takes exactly the profile flow: SELECT, GET STATE, STAGE LIST, COMMIT LIST', async () => {
    await ws.lists.queueNext(record.id, 'manual', actor);
    expect(await push.pushNext(reader(), actor)).toMatchObject({ outcome: 'pushed' });
    expect(tear.sent).toBe(PUSH_APDUS);
    expect(readCard(card).list?.listSeq).toBe(await activeSeq());
  });

  const positions = Array.from({ length: PUSH_APDUS }, (_, i) => i);
  const cases = [
    ...positions.map((at) => ({ at, how: 'pull' as const })),
    ...positions.map((at) => ({ at, how: 'die' as const })),
  ];

  it.each(cases)(
    'card $how at APDU $at: card and database agree, and the next presentation finishes the push',
    async (c) => {
      const before = await activeSeq();
      const queued = await ws.lists.queueNext(record.id, 'manual', actor);
      const seq = queued.list.seq;
      await tear.takeOut();
      await tear.put(card.file, c.how === 'die');
      tear.cut = c;
      const err = await push.pushNext(reader(), actor).catch((x: unknown) => x);
      tear.cut = null;
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/present the card again/i);

      // Agreement: the issuer's active list is still the old one (its codes still serve), and the
      // card holds either the old list or — torn after COMMIT — the new one, complete.
      const onCard = readCard(card).list?.listSeq;
      expect(await activeSeq()).toBe(before);
      expect([before, seq]).toContain(onCard);
      expect(onCard === seq).toBe(c.how === 'die' && c.at === PUSH_APDUS - 1);

      // The card presented again: the push finishes, sending again or confirming by GET RECEIPT.
      await tear.takeOut();
      await tear.put(card.file, false);
      const done = await push.pushNext(reader(), actor);
      expect(done).toMatchObject({ outcome: onCard === seq ? 'resumed' : 'pushed', seq });
      expect(readCard(card).list?.listSeq).toBe(seq);
      expect(await activeSeq()).toBe(seq);
      expect((await lists()).filter((l) => l.state === 'active')).toHaveLength(1);
      expect(await nextCodeAccepted()).toMatchObject({ accepted: true });
    },
    60_000,
  );
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import type { CardRepository } from '../../../src/core/cards/card.repository';
import { RepositoryCustomerPicker } from '../../../src/core/enrollment/customer-picker.repository';
import { EnrollmentService } from '../../../src/core/enrollment/enrollment.service';
import { createLogger } from '../../../src/core/log';
import type { ReissueRepository } from '../../../src/core/reissue/reissue.repository';
import { ReissueService } from '../../../src/core/reissue/reissue.service';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { CHEAP_SCRYPT, personaliseAwaiting, prepareKeystore } from '../../support/activation-cards';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer } from '../../support/operators';
import { TestReissueGate } from '../../support/reissue-gate';
import { TearingReader } from '../../support/tearing-reader';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';

// A reissue cut off at its two other dangerous moments (docs/reissue.md, the order of writes): the
// blank card pulled in the middle of its enrollment, and the desk dying right after the enrollment
// finished but before the reissue recorded it. Each time a desk that starts afresh (a new service:
// nothing in memory) finishes the job with the same card and no other, and the customer ends with
// exactly one new card.

describe('a reissue cut off mid-way (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let ws: DeskWorkstation;
  let pcsc: PcscReaderService;
  let tear: TearingReader;
  let cards: CardRepository;
  const gate = new TestReissueGate();
  const actor = { operatorId: 9, operator: 'sam', role: 'support' as const };

  /** The reissues table (on the run's engine), dying at its first markEnrolled like a desk killed right there. */
  const dyingReissues = (base: ReissueRepository): ReissueRepository => {
    let died = false;
    return new Proxy(base, {
      get(target, prop) {
        if (prop === 'markEnrolled' && !died)
          return () => {
            died = true;
            return Promise.reject(new Error('the desk died here (test)'));
          };
        const member: unknown = Reflect.get(target, prop, target);
        return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(target) : member;
      },
    });
  };

  /** A desk as it starts: a new service over the same database (nothing kept in memory). */
  const desk = (reissues = t.sql.repos.reissues) => {
    const audit = t.sql.audit;
    const log = createLogger(null);
    return new ReissueService({
      gate,
      reissues,
      cards,
      listRepo: t.sql.repos.lists,
      lists: ws.lists,
      enrollment: new EnrollmentService({
        cards,
        customers: new RepositoryCustomerPicker(t.sql.repos.customers, cards),
        readers: tear.readers,
        keystore: ws.keystore,
        audit,
        atomically: t.sql.repos.atomically,
        log,
        retries: () => ({ pinTries: 3, activationTries: 5 }),
      }),
      audit,
      atomically: t.sql.repos.atomically,
      log,
    });
  };
  const cardsOf = (customerId: number) =>
    t.sql.all<{ card_id: string; state: string }>(
      'SELECT card_id, state FROM cards WHERE customer_id = ? ORDER BY id',
      customerId,
    );
  const enrolled = async () => (await auditRows(ws)).filter((a) => a.action === 'enrollment.completed').length;
  /** A customer's card reported lost before it was activated, and a verified case for it. */
  const lostCard = async () => {
    const file = createTestCard(bed.cardDir);
    await tear.put(file.file, false);
    const { record } = await personaliseAwaiting(ws, tear.readerName, { readers: pcsc });
    await cards.transition(record.id, ['awaiting_activation'], 'blocked', new Date().toISOString());
    await tear.takeOut();
    return { record, caseId: gate.verified(record.customerId, record.id) };
  };
  const blank = async (): Promise<TestCard> => {
    const file = createTestCard(bed.cardDir);
    await tear.put(file.file, false);
    return file;
  };

  beforeAll(async () => {
    bed = await useTestbed('reissue-crash');
    t = await freshWorkstation({ readers: 'none', keystoreScryptCost: CHEAP_SCRYPT });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    pcsc = new PcscReaderService({ timeoutMs: 3000 });
    pcsc.start();
    await eventually(() => pcsc.snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    tear = new TearingReader(pcsc, bed, 0);
    cards = t.sql.repos.cards;
  }, 60_000);

  afterAll(async () => {
    await pcsc?.stop();
    await t?.dispose();
    await bed?.close();
  });

  it('the blank card pulled mid-enrollment: another card is refused, the same card finishes it', async () => {
    const { record, caseId } = await lostCard();
    const first = await blank();
    // The enrollment's 4th APDU (the secure channel to the blank card) never reaches it.
    tear.cut = { at: 3, how: 'pull' };
    await expect(desk().reissue({ caseId, reader: tear.readerName }, actor)).rejects.toMatchObject({
      code: 'CARD_REMOVED',
    });
    tear.cut = null;
    expect((await cardsOf(record.customerId)).map((c) => c.state)).toEqual(['blocked', 'enrolling']);
    expect(readCard(first).lifeCycle).toBe('blank');

    // Another blank card: refused, nothing written, the card untouched.
    const other = await blank();
    const written = async () =>
      JSON.stringify([
        await t.sql.all('SELECT * FROM cards ORDER BY id'),
        await t.sql.all('SELECT * FROM card_reissues ORDER BY id'),
      ]);
    const before = await written();
    await expect(desk().reissue({ caseId, reader: tear.readerName }, actor)).rejects.toMatchObject({
      code: 'REISSUE_OTHER_CARD',
    });
    expect(await written()).toBe(before);
    expect(readCard(other).lifeCycle).toBe('blank');
    await tear.takeOut();

    // The same card again: the reissue finishes.
    await tear.put(first.file, false);
    const done = await desk().reissue({ caseId, reader: tear.readerName }, actor);
    expect(done).toMatchObject({ resumed: true, newCardId: readCard(first).cardId.toUpperCase() });
    expect(readCard(first)).toMatchObject({ lifeCycle: 'personalised', n: done.newN });
    expect((await cardsOf(record.customerId)).map((c) => c.state)).toEqual(['blocked', 'awaiting_activation']);
    expect(gate.stateOf(caseId)).toMatchObject({ state: 'reissued' });
    await tear.takeOut();
  });

  it('the desk dies between the enrollment and recording it: a fresh desk finishes without the card and without enrolling again', async () => {
    const { record, caseId } = await lostCard();
    const fresh = await blank();
    const dying = dyingReissues(t.sql.repos.reissues);
    await expect(desk(dying).reissue({ caseId, reader: tear.readerName }, actor)).rejects.toThrow(/died here/);
    expect((await cardsOf(record.customerId)).map((c) => c.state)).toEqual(['blocked', 'awaiting_activation']);
    expect((await t.sql.repos.reissues.byCase(caseId))?.state).toBe('enrolling');
    const enrollments = await enrolled();
    // The card has gone home with the customer: finishing needs no card.
    await tear.takeOut();

    const done = await desk().reissue({ caseId, reader: tear.readerName }, actor);
    expect(done).toMatchObject({ resumed: true, newCardId: readCard(fresh).cardId.toUpperCase() });
    expect(await enrolled()).toBe(enrollments);
    expect(await cardsOf(record.customerId)).toHaveLength(2);
    expect((await t.sql.repos.reissues.byCase(caseId))?.state).toBe('done');
    expect(gate.stateOf(caseId)).toMatchObject({ state: 'reissued' });
  });
});

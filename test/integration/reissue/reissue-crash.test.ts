import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService } from '../../../src/core/audit/audit.service';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import { SqliteCardRepository } from '../../../src/core/cards/card.repository';
import { SqliteCustomerRepository } from '../../../src/core/customers/customer.repository';
import { RepositoryCustomerPicker } from '../../../src/core/enrollment/customer-picker.repository';
import { EnrollmentService } from '../../../src/core/enrollment/enrollment.service';
import { SqliteListRepository } from '../../../src/core/lists/list.repository';
import { createLogger } from '../../../src/core/log';
import { SqliteReissueRepository, type ReissueRecord } from '../../../src/core/reissue/reissue.repository';
import { ReissueService } from '../../../src/core/reissue/reissue.service';
import type { Workstation } from '../../../src/core/workstation';
import { CHEAP_SCRYPT, personaliseAwaiting, prepareKeystore } from '../../support/activation-cards';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer } from '../../support/operators';
import { TestReissueGate } from '../../support/reissue-gate';
import { TearingReader } from '../../support/tearing-reader';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import { sqliteRepositories } from '../../../src/core/db/repositories';

// A reissue cut off at its two other dangerous moments (docs/reissue.md, the order of writes): the
// blank card pulled in the middle of its enrollment, and the desk dying right after the enrollment
// finished but before the reissue recorded it. Each time a desk that starts afresh (a new service:
// nothing in memory) finishes the job with the same card and no other, and the customer ends with
// exactly one new card.

describe('a reissue cut off mid-way (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let t: ReturnType<typeof freshWorkstation>;
  let ws: Workstation;
  let pcsc: PcscReaderService;
  let tear: TearingReader;
  let cards: SqliteCardRepository;
  const gate = new TestReissueGate();
  const actor = { operatorId: 9, operator: 'sam', role: 'support' as const };

  /** The reissues table, dying once at `dieAt` like a desk killed right there. */
  class DyingReissues extends SqliteReissueRepository {
    dieAt: 'markEnrolled' | null = null;
    override async markEnrolled(id: number, newCardRef: number, at: string): Promise<ReissueRecord | null> {
      if (this.dieAt === 'markEnrolled') {
        this.dieAt = null;
        throw new Error('the desk died here (test)');
      }
      return super.markEnrolled(id, newCardRef, at);
    }
  }

  /** A desk as it starts: a new service over the same database (nothing kept in memory). */
  const desk = (reissues = new SqliteReissueRepository(ws.db)) => {
    const audit = new AuditService(ws.db);
    const log = createLogger(null);
    return new ReissueService({
      gate,
      reissues,
      cards,
      listRepo: new SqliteListRepository(ws.db),
      lists: ws.lists,
      enrollment: new EnrollmentService({
        cards,
        customers: new RepositoryCustomerPicker(new SqliteCustomerRepository(ws.db), cards),
        readers: tear.readers,
        keystore: ws.keystore,
        audit,
        atomically: sqliteRepositories(ws.db, new AuditService(ws.db)).atomically,
        log,
        retries: () => ({ pinTries: 3, activationTries: 5 }),
      }),
      audit,
      atomically: sqliteRepositories(ws.db, new AuditService(ws.db)).atomically,
      log,
    });
  };
  const cardsOf = (customerId: number) =>
    ws.db.prepare('SELECT card_id, state FROM cards WHERE customer_id = ? ORDER BY id').all(customerId) as {
      card_id: string;
      state: string;
    }[];
  const enrolled = () => auditRows(ws).filter((a) => a.action === 'enrollment.completed').length;
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
    t = freshWorkstation({ readers: 'none', keystoreScryptCost: CHEAP_SCRYPT });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    pcsc = new PcscReaderService({ timeoutMs: 3000 });
    pcsc.start();
    await eventually(() => pcsc.snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    tear = new TearingReader(pcsc, bed, 0);
    cards = new SqliteCardRepository(ws.db);
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
    expect(cardsOf(record.customerId).map((c) => c.state)).toEqual(['blocked', 'enrolling']);
    expect(readCard(first).lifeCycle).toBe('blank');

    // Another blank card: refused, nothing written, the card untouched.
    const other = await blank();
    const before = JSON.stringify([
      ws.db.prepare('SELECT * FROM cards').all(),
      ws.db.prepare('SELECT * FROM card_reissues').all(),
    ]);
    await expect(desk().reissue({ caseId, reader: tear.readerName }, actor)).rejects.toMatchObject({
      code: 'REISSUE_OTHER_CARD',
    });
    expect(
      JSON.stringify([ws.db.prepare('SELECT * FROM cards').all(), ws.db.prepare('SELECT * FROM card_reissues').all()]),
    ).toBe(before);
    expect(readCard(other).lifeCycle).toBe('blank');
    await tear.takeOut();

    // The same card again: the reissue finishes.
    await tear.put(first.file, false);
    const done = await desk().reissue({ caseId, reader: tear.readerName }, actor);
    expect(done).toMatchObject({ resumed: true, newCardId: readCard(first).cardId.toUpperCase() });
    expect(readCard(first)).toMatchObject({ lifeCycle: 'personalised', n: done.newN });
    expect(cardsOf(record.customerId).map((c) => c.state)).toEqual(['blocked', 'awaiting_activation']);
    expect(gate.stateOf(caseId)).toMatchObject({ state: 'reissued' });
    await tear.takeOut();
  });

  it('the desk dies between the enrollment and recording it: a fresh desk finishes without the card and without enrolling again', async () => {
    const { record, caseId } = await lostCard();
    const fresh = await blank();
    const dying = new DyingReissues(ws.db);
    dying.dieAt = 'markEnrolled';
    await expect(desk(dying).reissue({ caseId, reader: tear.readerName }, actor)).rejects.toThrow(/died here/);
    expect(cardsOf(record.customerId).map((c) => c.state)).toEqual(['blocked', 'awaiting_activation']);
    expect((await new SqliteReissueRepository(ws.db).byCase(caseId))?.state).toBe('enrolling');
    const enrollments = enrolled();
    // The card has gone home with the customer: finishing needs no card.
    await tear.takeOut();

    const done = await desk().reissue({ caseId, reader: tear.readerName }, actor);
    expect(done).toMatchObject({ resumed: true, newCardId: readCard(fresh).cardId.toUpperCase() });
    expect(enrolled()).toBe(enrollments);
    expect(cardsOf(record.customerId)).toHaveLength(2);
    expect((await new SqliteReissueRepository(ws.db).byCase(caseId))?.state).toBe('done');
    expect(gate.stateOf(caseId)).toMatchObject({ state: 'reissued' });
  });
});

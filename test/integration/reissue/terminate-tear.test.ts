import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivationService } from '../../../src/core/activation/activation.service';
import type { Session } from '../../../src/core/auth/session.store';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import type { CardRepository } from '../../../src/core/cards/card.repository';
import { RepositoryCustomerPicker } from '../../../src/core/enrollment/customer-picker.repository';
import { EnrollmentService } from '../../../src/core/enrollment/enrollment.service';
import { createLogger } from '../../../src/core/log';
import { ReissueService } from '../../../src/core/reissue/reissue.service';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { CHEAP_SCRYPT, personaliseAwaiting, prepareKeystore } from '../../support/activation-cards';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer } from '../../support/operators';
import { TestReissueGate } from '../../support/reissue-gate';
import { TearingReader } from '../../support/tearing-reader';
import { createTestCard, readCard } from '../../support/test-cards';
import { useTestbed, type Testbed } from '../../support/testbed';

// The old card's end, torn (issue 11 item 3; docs/reissue.md "The old card is dead"): a card
// replaced by a reissue is presented at the desk and pulled out before each APDU of its termination,
// or dies after the card processed one but before its answer came back. At every position the
// database never says terminated while the card is not; the next presentation finishes the job:
// card and database both terminated, TERMINATE sent and audited once.

describe('terminating a replaced card, torn at every APDU (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let ws: DeskWorkstation;
  let pcsc: PcscReaderService;
  let tear: TearingReader;
  let desk: ActivationService;
  let cards: CardRepository;
  let session: Session;
  let caseSerial = 100;

  beforeAll(async () => {
    bed = await useTestbed('reissue-terminate-tear');
    t = await freshWorkstation({ readers: 'none', keystoreScryptCost: CHEAP_SCRYPT });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    pcsc = new PcscReaderService({ timeoutMs: 3000 });
    pcsc.start();
    tear = new TearingReader(pcsc, bed, 0);
    cards = t.sql.repos.cards;
    const audit = t.sql.audit;
    const log = createLogger(null);
    const reissue = new ReissueService({
      gate: new TestReissueGate(),
      reissues: t.sql.repos.reissues,
      cards,
      listRepo: t.sql.repos.lists,
      lists: ws.lists,
      enrollment: new EnrollmentService({
        cards,
        customers: new RepositoryCustomerPicker(t.sql.repos.customers, cards),
        readers: pcsc,
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
    desk = new ActivationService({
      readers: tear.readers,
      keystore: ws.keystore,
      cards,
      customers: t.sql.repos.customers,
      dualControl: { require: async () => null },
      audit,
      atomically: t.sql.repos.atomically,
      log,
    });
    desk.onPresented('terminate a replaced card', reissue.terminateReplaced);
    session = {
      operatorId: officer.id,
      username: officer.username,
      displayName: 'Sofia Officer',
      role: 'security_officer',
      mustChangePassword: false,
      lastActivity: 0,
    };
  }, 60_000);

  afterAll(async () => {
    await pcsc?.stop();
    await t?.dispose();
    await bed?.close();
  });

  /** A personalised card whose customer reported it and got a reissue: blocked, with a card_reissues row. */
  const replacedCard = async (delayed: boolean) => {
    const file = createTestCard(bed.cardDir);
    await tear.put(file.file, delayed);
    const { record } = await personaliseAwaiting(ws, tear.readerName, { readers: pcsc });
    await cards.transition(record.id, ['awaiting_activation'], 'blocked', new Date().toISOString());
    await t.sql.repos.reissues.begin(
      {
        caseId: ++caseSerial,
        customerRef: record.customerId,
        oldCardRef: record.id,
        newCardId: `BB${caseSerial}`,
        oldListRef: null,
        carriedCodes: 0,
      },
      { operator: 'sofia', at: new Date().toISOString() },
    );
    return { file, record };
  };
  const terminations = async (n: string) =>
    (await auditRows(ws)).filter((a) => a.action === 'reissue.old_card_terminated' && a.object === `card:${n}`).length;

  it('leaves card and database consistent at every APDU, and the next presentation finishes it', async () => {
    // A clean run counts the APDUs of a termination (SELECT, GET STATE, secure channel, TERMINATE, GET STATE).
    const clean = await replacedCard(false);
    const seen = await desk.inReader(tear.readerName, session);
    expect(seen).toMatchObject({ card: { lifeCycle: 'terminated' }, record: { state: 'terminated' } });
    expect(readCard(clean.file).lifeCycle).toBe('terminated');
    const positions = tear.sent;
    expect(positions).toBeGreaterThanOrEqual(5);
    await tear.takeOut();

    const outcomes: string[] = [];
    for (let at = 0; at < positions; at++) {
      for (const how of ['pull', 'die'] as const) {
        const { file, record } = await replacedCard(how === 'die');
        tear.cut = { at, how };
        await expect(desk.inReader(tear.readerName, session)).rejects.toBeDefined();
        tear.cut = null;
        const chip = readCard(file).lifeCycle;
        const row = (await cards.byId(record.id))?.state;
        outcomes.push(`${at}/${how}: card ${chip}, db ${row}`);
        // Never terminated in the database while the card still works.
        if (row === 'terminated') expect(chip).toBe('terminated');
        expect(['blocked', 'terminated']).toContain(row);

        await tear.takeOut();
        await tear.put(file.file, false);
        const again = await desk.inReader(tear.readerName, session);
        expect(again, outcomes.at(-1)).toMatchObject({
          card: { lifeCycle: 'terminated' },
          record: { state: 'terminated' },
        });
        expect(readCard(file).lifeCycle).toBe('terminated');
        expect(await terminations(record.n)).toBeLessThanOrEqual(1);
        await tear.takeOut();
      }
    }
    // Some cuts landed after TERMINATE reached the card, some before: both kinds were exercised.
    expect(outcomes.some((o) => o.includes('card terminated, db blocked'))).toBe(true);
    expect(outcomes.some((o) => o.includes('card personalised, db blocked'))).toBe(true);
  }, 240_000);
});

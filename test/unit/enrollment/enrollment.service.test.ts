import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CardStore } from '../../../src/card-sim/card-store';
import { VirtualCard } from '../../../src/card-sim/virtual-card';
import { AuditService } from '../../../src/core/audit/audit.service';
import { TrainingReaderService, TRAINING_READER_NAME } from '../../../src/core/card/training-reader';
import { isOtacAtr } from '../../../src/core/card/protocol/atr';
import { SqliteCardRepository } from '../../../src/core/cards/card.repository';
import { sqliteCustomerPicker } from '../../../src/core/enrollment/customer-picker.repository';
import { EnrollmentService } from '../../../src/core/enrollment/enrollment.service';
import { generateN } from '../../../src/core/enrollment/identification-code';
import { createLogger } from '../../../src/core/log';
import { addCustomer, keystoreReadyToEnroll } from '../../support/enrollment';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { addOperator, setupOfficer } from '../../support/operators';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteRepositories } from '../../../src/core/db/repositories';

// The service's own rules on the in-process reader (the same reader API as PC/SC): N collisions
// are decided by the UNIQUE constraint and redrawn, and two enrollments racing for one card end
// with one card, one row, and the loser refused with nothing changed.

describe('EnrollmentService rules', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let reader: TrainingReaderService;
  let cardDir: string;
  let cards: SqliteCardRepository;
  const actor = { operatorId: 1, operator: 'clara', role: 'clerk' as const };
  const service = (newN?: () => string) =>
    new EnrollmentService({
      cards,
      customers: sqliteCustomerPicker(t.ws.db),
      readers: reader,
      keystore: t.ws.keystore,
      audit: new AuditService(t.ws.db),
      atomically: sqliteRepositories(t.ws.db, new AuditService(t.ws.db)).atomically,
      log: createLogger(null),
      retries: () => ({ pinTries: 3, activationTries: 5 }),
      ...(newN ? { newN } : {}),
    });
  const blankCard = () => {
    const store = new CardStore(cardDir);
    const [rec] = store.create(1);
    const card = new VirtualCard(rec!, { persist: (r) => store.save(r) });
    reader.insert(card);
    return card;
  };

  beforeEach(async () => {
    t = freshSqliteWorkstation({ keystoreScryptCost: { N: 1024, r: 8, p: 1 } });
    const officer = await setupOfficer(t.ws);
    await keystoreReadyToEnroll(t.ws, officer, await addOperator(t.ws, 'security_officer'));
    reader = new TrainingReaderService({ acceptAtr: isOtacAtr });
    reader.start();
    cardDir = mkdtempSync(join(tmpdir(), 'otac-enroll-unit-'));
    cards = new SqliteCardRepository(t.ws.db);
  }, 30_000);

  afterEach(async () => {
    await reader.stop();
    await t.dispose();
    rmSync(cardDir, { recursive: true, force: true });
  });

  it('draws a fresh N when the one drawn is taken (the UNIQUE constraint decides)', async () => {
    const first = await addCustomer(t.ws, 'First Holder');
    const second = await addCustomer(t.ws, 'Second Holder');
    blankCard();
    const taken = (await service().enroll({ customerId: first.id, reader: TRAINING_READER_NAME }, actor)).n;
    const fresh = generateN();
    const draws = [taken, taken, fresh];
    const card = blankCard();
    const r = await service(() => draws.shift()!).enroll(
      { customerId: second.id, reader: TRAINING_READER_NAME },
      actor,
    );
    expect(r.n).toBe(fresh);
    expect(card.record).toMatchObject({ lifeCycle: 'personalised', n: fresh });
    const bound = t.ws.db
      .prepare("SELECT details FROM audit_log WHERE action = 'enrollment.bound' ORDER BY seq DESC LIMIT 1")
      .get() as { details: string };
    expect(JSON.parse(bound.details)).toMatchObject({ attempt: 3 });
  });

  it('gives up with a clear error, writing nothing, when every draw collides', async () => {
    const first = await addCustomer(t.ws, 'First Holder');
    blankCard();
    const taken = (await service().enroll({ customerId: first.id, reader: TRAINING_READER_NAME }, actor)).n;
    const card = blankCard();
    const before = card.record;
    const err = await service(() => taken)
      .enroll({ customerId: first.id, reader: TRAINING_READER_NAME }, actor)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENROLLMENT_N_EXHAUSTED' });
    expect(card.record).toEqual(before);
    expect(await cards.listByCustomer(first.id)).toHaveLength(1);
  });

  it('two enrollments racing for one card: one wins, the other is refused, one row and one N', async () => {
    const a = await addCustomer(t.ws, 'Racer A');
    const b = await addCustomer(t.ws, 'Racer B');
    const card = blankCard();
    const s = service();
    const results = await Promise.allSettled([
      s.enroll({ customerId: a.id, reader: TRAINING_READER_NAME }, actor),
      s.enroll({ customerId: b.id, reader: TRAINING_READER_NAME }, actor),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENROLLMENT_ALREADY_ENROLLED' });
    const rows = t.ws.db.prepare('SELECT customer_id, n, state FROM cards').all() as { n: string }[];
    expect(rows).toHaveLength(1);
    expect(card.record).toMatchObject({ lifeCycle: 'personalised', n: rows[0]!.n });
  });

  it('reports its progress to the caller, and a retry on a personalised card checks instead of personalising', async () => {
    const c = await addCustomer(t.ws, 'Progress Watcher');
    const card = blankCard();
    const steps: string[] = [];
    const r = await service().enroll({ customerId: c.id, reader: TRAINING_READER_NAME }, actor, (s) => steps.push(s));
    expect(steps).toEqual(['reading', 'binding', 'personalising', 'finishing', 'done']);
    // The database step lost after PERSONALISE (an app killed at that moment): the row goes back to enrolling.
    t.ws.db.prepare("UPDATE cards SET state = 'enrolling' WHERE n = ?").run(r.n);
    const again: string[] = [];
    const done = await service().retry({ reader: TRAINING_READER_NAME }, actor, (s) => again.push(s));
    expect(again).toEqual(['reading', 'checking', 'finishing', 'done']);
    expect(done).toMatchObject({ n: r.n, personalised: false, resumed: true });
    expect(card.record).toMatchObject({ lifeCycle: 'personalised', n: r.n });
  });

  it('a card that shows the pending N but not its K is not taken as done (a counterfeit or a foreign write)', async () => {
    const c = await addCustomer(t.ws, 'Counterfeit Check');
    const store = new CardStore(cardDir);
    const [blank] = store.create(1);
    const n = generateN();
    const fake = { ...blank!, lifeCycle: 'personalised' as const, n, cardKey: 'ab'.repeat(16), keyVersion: 1 };
    store.save(fake);
    reader.insert(new VirtualCard(fake, { persist: (r) => store.save(r) }));
    await cards.insert(
      { cardId: blank!.cardId.toUpperCase(), customerId: c.id, n, sealMode: 'card-key' },
      { operator: 'clara', at: new Date().toISOString() },
    );
    await expect(service().retry({ reader: TRAINING_READER_NAME }, actor)).rejects.toMatchObject({
      code: 'CARD_AUTH_FAILED',
    });
    expect(await cards.byCardId(blank!.cardId.toUpperCase())).toMatchObject({ state: 'enrolling' });
  });

  it('refuses with nothing changed when the keystore is locked or has no transport key', async () => {
    const c = await addCustomer(t.ws, 'Locked Out');
    const card = blankCard();
    const before = card.record;
    await t.ws.keystore.lock(null);
    await expect(service().enroll({ customerId: c.id, reader: TRAINING_READER_NAME }, actor)).rejects.toMatchObject({
      code: 'KEYSTORE_LOCKED',
    });
    expect(card.record).toEqual(before);
    expect(await cards.listByCustomer(c.id)).toEqual([]);
  });
});

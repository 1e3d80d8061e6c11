import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAtr } from '../../../src/card-sim/card-record';
import type { CardRepository } from '../../../src/core/cards/card.repository';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { isValidN } from '../../../src/core/enrollment/identification-code';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { databaseContents } from '../../support/desk-contents';
import { freshWorkstation } from '../../support/fresh-workstation';
import type { Result } from '../../../src/shared/contract';
import { addCustomer, cardReadIn, keystoreReadyToEnroll } from '../../support/enrollment';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { useTestbed, type Testbed } from '../../support/testbed';

// Enrollment through the whole stack: the contract, the EnrollmentService, the keystore, pcsclite →
// pcscd → vpcd → the virtual card process. The card's own file and the database are checked after
// each step, and refusals must leave both exactly as they were.

type EnrollOut = { n: string; cardId: string; customerId: number; personalised: boolean; resumed: boolean };

describe('enrollment over pcscd + vpcd', () => {
  let bed: Testbed;
  let ws: DeskWorkstation;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let dataDir: string;
  let clerk: TestOperator;
  let manager: TestOperator;
  let cards: CardRepository;

  const call = (op: TestOperator, channel: string, input: unknown): Promise<Result<unknown>> =>
    ws.router.dispatch(op.client, channel, input);
  const snapshotDb = async (): Promise<string> =>
    JSON.stringify([
      await t.sql.all('SELECT * FROM cards ORDER BY id'),
      await t.sql.all('SELECT * FROM card_key_series ORDER BY n'),
    ]);
  // The keystore records as it acts; on PostgreSQL its entries commit moments after the call answers.
  const audit = async () => {
    await ws.keystore.settled();
    return auditRows(ws);
  };
  const insert = async (card: TestCard, slot: number) => {
    await bed.insert(card.file, slot);
    return cardReadIn(ws, clerk.client, bed.readerName(slot));
  };

  beforeAll(async () => {
    bed = await useTestbed('enrollment');
    t = await freshWorkstation({ readers: 'pcsc', keystoreScryptCost: { N: 1024, r: 8, p: 1 } });
    ws = t.ws;
    dataDir = t.dataDir;
    const officer = await setupOfficer(ws);
    await keystoreReadyToEnroll(ws, officer, await addOperator(ws, 'security_officer'));
    clerk = await addOperator(ws, 'clerk');
    manager = await addOperator(ws, 'manager');
    cards = t.sql.repos.cards;
  }, 60_000);

  afterAll(async () => {
    await t?.dispose();
    await bed?.close();
  });

  it('enrolls a blank card end to end: the card holds N and K, the database says awaiting activation', async () => {
    const customer = await addCustomer(ws, 'Jürgen Blank');
    const card = createTestCard(bed.cardDir);
    const seen = await insert(card, 0);
    expect(seen.lifeCycle).toBe('blank');

    const found = value(await call(clerk, 'enrollment:findCustomers', { query: 'jurgen' })) as { id: number }[];
    expect(found.map((c) => c.id)).toContain(customer.id);
    expect(value(await call(clerk, 'enrollment:status', { reader: bed.readerName(0) }))).toMatchObject({
      verdict: 'blank',
      cardId: card.cardId.toUpperCase(),
    });

    const r = value(
      await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: bed.readerName(0) }),
    ) as EnrollOut;
    expect(r).toMatchObject({ cardId: card.cardId.toUpperCase(), customerId: customer.id, personalised: true });
    expect(r.resumed).toBe(false);
    expect(isValidN(r.n)).toBe(true);

    const onCard = readCard(card);
    expect(onCard).toMatchObject({
      lifeCycle: 'personalised',
      n: r.n,
      keyVersion: 1,
      pinTriesMax: 3,
      activationTriesMax: 5,
    });
    expect(onCard.transportKey).toBeUndefined(); // erased by PERSONALISE
    // The K on the card is the K the mailer will print for this N (and nothing else knows it).
    const mailer = await ws.keystore
      .current()
      .formatCustomerKeyForMailer(r.n, { operator: manager.username, role: 'manager', reason: 'test' });
    const typed = parseMailerKey(mailer.formatted);
    if (!typed.ok) throw new Error('mailer key does not parse');
    expect(onCard.cardKey).toBe(typed.key.toString('hex'));

    expect(await cards.byCardId(card.cardId.toUpperCase())).toMatchObject({
      state: 'awaiting_activation',
      n: r.n,
      customerId: customer.id,
      enrolledBy: clerk.username,
    });
    const actions = (await audit()).map((a) => a.action);
    for (const a of [
      'enrollment.started',
      'enrollment.bound',
      'keystore.card_key.personalised',
      'enrollment.personalised',
      'enrollment.completed',
    ])
      expect(actions).toContain(a);
    // No K in the audit trail, the log or the answer.
    const k = typed.key.toString('hex');
    const haystack = [
      JSON.stringify(await audit()),
      readFileSync(join(dataDir, 'logs', 'workstation.log'), 'utf8'),
      JSON.stringify(r),
    ].join('\n');
    expect(haystack.toLowerCase()).not.toContain(k);
    expect(haystack).not.toContain(typed.key.toString('base64'));
    // Nor in the database (its file and WAL, or every row on PostgreSQL), in any encoding.
    const database = await databaseContents(ws, dataDir);
    expect(database.map(([, text]) => text).join('\n')).toContain(r.n); // the scan reads the rows
    for (const [where, text] of database) {
      expect(text.includes(typed.key.toString('latin1')), where).toBe(false);
      expect(text.toLowerCase().includes(k), where).toBe(false);
      expect(text.includes(typed.key.toString('base64')), where).toBe(false);
    }

    // The same card again: already enrolled, nothing changes.
    const before = await snapshotDb();
    const again = await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: bed.readerName(0) });
    expect(again).toMatchObject({ ok: false, error: { code: 'ENROLLMENT_ALREADY_ENROLLED' } });
    expect(value(await call(clerk, 'enrollment:status', { reader: bed.readerName(0) }))).toMatchObject({
      verdict: 'enrolled',
    });
    expect(await snapshotDb()).toBe(before);
    expect(readCard(card)).toEqual(onCard);
    expect((await audit()).at(-1)).toMatchObject({ action: 'enrollment.refused', outcome: 'denied' });
    await bed.remove(0);
  }, 30_000);

  it('refuses a foreign card (not OTAC) and a card personalised elsewhere, changing nothing', async () => {
    const customer = await addCustomer(ws, 'Fremd Karte');
    // A card whose ATR does not carry the OTAC historical bytes.
    const foreignAtr = buildAtr(Buffer.alloc(8, 0x11));
    foreignAtr.write('ABCD', 6, 'latin1');
    const foreign = createTestCard(bed.cardDir, { atrHex: foreignAtr.toString('hex') });
    await bed.insert(foreign.file, 0);
    const before = await snapshotDb();
    let r: Result<unknown> = { ok: true, value: null };
    for (let i = 0; i < 50; i++) {
      r = await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: bed.readerName(0) });
      if (!r.ok && r.error.code === 'ENROLLMENT_FOREIGN_CARD') break;
      await new Promise((resolve) => setTimeout(resolve, 100)); // until pcscd has the card
    }
    expect(r).toMatchObject({ ok: false, error: { code: 'ENROLLMENT_FOREIGN_CARD' } });
    if (!r.ok) expect(r.error.message).toMatch(/not an OTAC card.*blank card/);
    expect(value(await call(clerk, 'enrollment:status', { reader: bed.readerName(0) }))).toMatchObject({
      verdict: 'foreign',
    });
    expect(readCard(foreign)).toEqual(foreign.record);
    await bed.remove(0);

    const elsewhere = createTestCard(bed.cardDir, {
      lifeCycle: 'personalised',
      n: 'OTHERBANK0001',
      cardKey: '00'.repeat(16),
      keyVersion: 1,
    });
    await insert(elsewhere, 0);
    const r2 = await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: bed.readerName(0) });
    expect(r2).toMatchObject({ ok: false, error: { code: 'ENROLLMENT_NOT_BLANK' } });
    expect(readCard(elsewhere)).toEqual(elsewhere.record);
    expect(await snapshotDb()).toBe(before);
    // Nothing pending for it either.
    expect(await call(clerk, 'enrollment:retry', { reader: bed.readerName(0) })).toMatchObject({
      ok: false,
      error: { code: 'ENROLLMENT_NOT_BLANK' },
    });
    await bed.remove(0);
  }, 30_000);

  it('two readers with cards: the operator names the reader and only that card is enrolled', async () => {
    const customer = await addCustomer(ws, 'Zwei Leser');
    const left = createTestCard(bed.cardDir);
    const right = createTestCard(bed.cardDir);
    await insert(left, 0);
    await insert(right, 1);
    // The clerk confirmed the left card, but names the right reader: refused, nothing written.
    const before = await snapshotDb();
    expect(
      await call(clerk, 'enrollment:enroll', {
        customerId: customer.id,
        reader: bed.readerName(1),
        cardId: left.cardId.toUpperCase(),
      }),
    ).toMatchObject({ ok: false, error: { code: 'ENROLLMENT_CARD_SWAPPED' } });
    expect(await snapshotDb()).toBe(before);
    expect(readCard(right)).toEqual(right.record);

    const r = value(
      await call(clerk, 'enrollment:enroll', {
        customerId: customer.id,
        reader: bed.readerName(1),
        cardId: right.cardId.toUpperCase(),
      }),
    ) as EnrollOut;
    expect(r.cardId).toBe(right.cardId.toUpperCase());
    expect(readCard(right)).toMatchObject({ lifeCycle: 'personalised', n: r.n });
    expect(readCard(left)).toEqual(left.record);
    expect(await cards.byCardId(left.cardId.toUpperCase())).toBeNull();
    // No reader named: refused by the contract, not guessed.
    expect(await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: '' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(
      await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: 'No Such Reader 00 00' }),
    ).toMatchObject({ ok: false, error: { code: 'READER_NOT_FOUND' } });
    await bed.remove(0);
    await bed.remove(1);
  }, 30_000);

  it('pcscd restarted: the enrollment fails clearly, then the same card enrolls', async () => {
    const customer = await addCustomer(ws, 'Dienst Neustart');
    const card = createTestCard(bed.cardDir);
    await insert(card, 0);
    await bed.killPcscd();
    const r = await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: bed.readerName(0) });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(['PCSC_DOWN', 'READER_NOT_FOUND', 'CARD_ABSENT', 'READER_ERROR']).toContain(r.error.code);
    expect(readCard(card)).toEqual(card.record);
    expect(await cards.byCardId(card.cardId.toUpperCase())).toBeNull();
    await bed.ensureUp();
    await cardReadIn(ws, clerk.client, bed.readerName(0), 15_000);
    const ok = value(
      await call(clerk, 'enrollment:enroll', { customerId: customer.id, reader: bed.readerName(0) }),
    ) as EnrollOut;
    expect(readCard(card)).toMatchObject({ lifeCycle: 'personalised', n: ok.n });
    await bed.remove(0);
  }, 60_000);

  it('only clerks and managers enroll', async () => {
    const support = await addOperator(ws, 'support');
    expect(await call(support, 'enrollment:enroll', { customerId: 1, reader: bed.readerName(0) })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
  });
});

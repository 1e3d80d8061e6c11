import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import { MAILER_ALPHABET } from '../../../src/core/crypto/mailer-key-format';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { CHEAP_SCRYPT, dispatchWhenFree, personaliseAwaiting, prepareKeystore } from '../../support/activation-cards';
import { freshWorkstation } from '../../support/fresh-workstation';
import { pdfText, testMailer } from '../../support/mailer';
import { addOperator, approvalFor, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';

// docs/mailer.md, "Reprint", enforced by the desk through pcscd: while a reprint's series is
// pending, the first thing done with a presented card is ROTATE KEY; the old mailer's K is then
// refused at the desk by its check value, costing the card no try, even twice at once; nothing is
// sealed or sent by text message under the old key; K′ from the reprinted PDF activates the card.

const C = `[${MAILER_ALPHABET}]`;
const KEY_FORMAT = new RegExp(`${C}{5}(?:-${C}{5}){6}`);
const PIN = '8080';

describe('a reprint moves the card to its next key series at its next presentation (pcscd)', () => {
  let bed: Testbed;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let ws: DeskWorkstation;
  let reader: string;
  let testCard: TestCard;
  let clerk: TestOperator;
  let manager: TestOperator;
  let manager2: TestOperator;
  const mailer = testMailer();

  const call = async (op: TestOperator, channel: string, input: unknown) => dispatchWhenFree(ws, op, channel, input);
  const keyOf = (job: number) => KEY_FORMAT.exec(pdfText(mailer.printer.jobs[job]!.pdf))?.[0] ?? '';
  const reprint = async (cardRef: number) =>
    value(
      await ws.router.dispatch(manager.client, 'mailer:reprint', {
        cardRef,
        reason: 'lost in the post',
        approval: await approvalFor(ws, manager, 'mailer.reprint', manager2),
      }),
    );

  beforeAll(async () => {
    bed = await useTestbed('mailer-reprint-enforced');
    reader = bed.readerName(0);
    t = await freshWorkstation({ readers: 'pcsc', keystoreScryptCost: CHEAP_SCRYPT, mailer });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    clerk = await addOperator(ws, 'clerk');
    manager = await addOperator(ws, 'manager');
    manager2 = await addOperator(ws, 'manager');
    const readers = ws.readers as CardReaderService;
    await eventually(() => readers.snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    testCard = createTestCard(bed.cardDir);
    await bed.insert(testCard.file, 0);
    await eventually(() => readers.snapshot().readers.some((r) => r.name === reader && r.cardPresent), 'card present');
  }, 120_000);

  afterAll(async () => {
    await t?.dispose();
    await bed?.close();
  });

  it('ATTACK: the old mailer’s K is refused after a reprint, twice at once, with no card try spent; K′ activates', async () => {
    const awaiting = await personaliseAwaiting(ws, reader);
    const cardRef = awaiting.record.id;
    value(
      await ws.router.dispatch(manager.client, 'mailer:print', {
        cardRef,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    await reprint(cardRef);
    const [oldK, newK] = [keyOf(0), keyOf(1)];
    expect(oldK).toMatch(KEY_FORMAT);
    expect(newK).not.toBe(oldK);
    expect(await ws.keystore.current().cardKeyState(awaiting.record.n)).toMatchObject({ sn: 1, pendingSn: 2 });

    const activate = (key: string) => call(clerk, 'activation:activate', { reader, key, pin: PIN, pinRepeat: PIN });
    const [a, b] = await Promise.all([activate(oldK), activate(oldK)]);
    for (const r of [a, b]) expect(r).toMatchObject({ ok: false, error: { code: 'ACTIVATION_KEY_REPLACED' } });
    // The card took K′ first and spent no try on the old K; it still awaits activation.
    expect(readCard(testCard)).toMatchObject({ lifeCycle: 'personalised', keyVersion: 2, activationTriesLeft: 5 });
    expect(await ws.keystore.current().cardKeyState(awaiting.record.n)).toMatchObject({ sn: 2, pendingSn: null });
    expect(await t.sql.get('SELECT state FROM cards WHERE id = ?', cardRef)).toEqual({ state: 'awaiting_activation' });
    expect(await t.sql.get('SELECT COUNT(*) AS n FROM code_lists')).toEqual({ n: 0 });
    const trail = await auditRows(ws);
    expect(
      trail.filter((r) => r.action === 'cards.rotate_key.pending_taken').map((r) => JSON.parse(r.details) as unknown),
    ).toEqual([expect.objectContaining({ fromVersion: 1, toVersion: 2 })]);
    // Both attempts were refused at the desk (a CARD_BUSY from the other call is retried, not counted).
    const denied = trail.filter((r) => r.action === 'activation.activate' && r.outcome === 'denied');
    expect(denied.filter((r) => r.details.includes('replaced-mailer-key'))).toHaveLength(2);

    // K′ from the reprinted PDF activates the card, and its first list follows.
    const done = value(await activate(newK)) as { followUps: { ok: boolean }[] };
    expect(done.followUps).toEqual([expect.objectContaining({ ok: true })]);
    expect(readCard(testCard)).toMatchObject({ lifeCycle: 'active', keyVersion: 2 });
  });

  it('ATTACK: while a reprint of an active card is pending, no list is sealed or sent by text message under the old key', async () => {
    const card = (await t.sql.get<{ id: number; n: string }>(`SELECT id, n FROM cards WHERE state = 'active'`))!;
    await reprint(card.id);
    const support = await addOperator(ws, 'support');
    value(await ws.router.dispatch(support.client, 'lists:requestRefill', { n: card.n }));
    const before = await t.sql.all('SELECT * FROM code_lists ORDER BY id');
    expect(await ws.router.dispatch(support.client, 'push:exportSms', { n: card.n })).toMatchObject({
      ok: false,
      error: { code: 'CARD_KEY_CHANGING' },
    });
    expect(await t.sql.all('SELECT * FROM code_lists ORDER BY id')).toEqual(before);
    expect((await auditRows(ws)).some((r) => r.action === 'lists.sent_by_sms')).toBe(false);

    // Presented at the desk (the card page), the card takes K″ first; then the list goes under it.
    value(await call(clerk, 'cards:inReader', { reader }));
    expect(readCard(testCard)).toMatchObject({ keyVersion: 3 });
    expect(value(await call(clerk, 'push:pushNext', { reader }))).toMatchObject({ outcome: 'pushed', seq: 2 });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardReaderService } from '../../src/core/card/reader.types';
import { MAILER_ALPHABET } from '../../src/core/crypto/mailer-key-format';
import { dispatchWhenFree, nextCodeIn, personaliseAwaiting, prepareKeystore } from '../support/activation-cards';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { openPageByAddress, signIn } from '../support/desk-pages';
import { pdfText, testMailer } from '../support/mailer';
import { addOperator, approvalFor, auditRows, setupOfficer, value, type TestOperator } from '../support/operators';
import { CUSTOMER_EMAIL } from '../support/support-cases';
import { mailSink, mailedPasskey, supportOptions, type MailSink } from '../support/support-channels';
import { createTestCard } from '../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../support/testbed';
import { call as httpCall } from '../support/verify-service';
import { startDeskService } from '../support/desk-service';

// Issue 11 "Done when", the whole path in the real UI (browser mode) over the real stack (pcscd +
// vpcd virtual cards, SQLite, the software keystore, a loopback SMTP server the test reads, the HTTP
// verification service): a customer's card, in use, is reported lost from the customer page → the
// passkey is e-mailed → typed at the desk → a blank card is enrolled as the new card and, once
// activated with the K of its own mailer (printed under dual control), holds the carried-over quota
// → the old card's codes are refused by the verification service.

const PIN = '4711';
const USED = 3;
const C = `[${MAILER_ALPHABET}]`;
const KEY_FORMAT = new RegExp(`${C}{5}(?:-${C}{5}){6}`);

describe('a lost card, end to end (browser mode, real pcscd)', () => {
  let bed: Testbed;
  let desk: Desk;
  let mail: MailSink;
  const mailer = testMailer();
  let clerk: TestOperator;
  let support: TestOperator;
  let manager: TestOperator;
  let manager2: TestOperator;
  const readers = () => desk.ws.readers as CardReaderService;
  const present = async (slot: number) => {
    const file = createTestCard(bed.cardDir);
    await bed.insert(file.file, slot);
    await eventually(
      () =>
        readers()
          .snapshot()
          .readers.some((r) => r.name === bed.readerName(slot) && r.cardPresent),
      'card present',
      10_000,
    );
    return file;
  };

  beforeAll(async () => {
    mail = await mailSink();
    bed = await useTestbed('lost-card-e2e');
    desk = await openDesk({ readers: 'pcsc', mailer, support: supportOptions(mail, null) });
    const officer = await setupOfficer(desk.ws);
    await prepareKeystore(desk.ws, officer, await addOperator(desk.ws, 'security_officer'));
    clerk = await addOperator(desk.ws, 'clerk');
    support = await addOperator(desk.ws, 'support');
    manager = await addOperator(desk.ws, 'manager');
    manager2 = await addOperator(desk.ws, 'manager');
    await eventually(() => readers().snapshot().readers.length === 2, 'both vpcd readers', 10_000);
  }, 180_000);
  afterAll(async () => {
    await desk?.close();
    await mail?.close();
    await bed?.close();
  });

  it('report lost → passkey e-mailed → typed at the desk → new card with the carried quota → old codes refused', async () => {
    const ws = desk.ws;
    const call = (op: TestOperator, channel: string, input: unknown) => dispatchWhenFree(ws, op, channel, input);
    // The customer's card in use: enrolled, activated, three codes used, the fourth read off the card.
    const oldReader = bed.readerName(0);
    await present(0);
    const old = await personaliseAwaiting(ws, oldReader);
    value(
      await call(clerk, 'activation:activate', { reader: oldReader, key: old.mailerKey, pin: PIN, pinRepeat: PIN }),
    );
    for (let i = 0; i < USED; i++) {
      const code = await nextCodeIn(readers(), oldReader, PIN);
      expect(await ws.verification.verify(old.record.n, code.code, code.index)).toMatchObject({ accepted: true });
    }
    const stolen = (await nextCodeIn(readers(), oldReader, PIN)).code;
    await desk.sql.run('UPDATE customers SET email = ? WHERE id = ?', CUSTOMER_EMAIL, old.record.customerId);
    const newReader = bed.readerName(1);
    await present(1); // a blank card from stock

    // Support: report from the customer page, after a confirmation.
    const page = await desk.openPage();
    await signIn(page, support.username, support.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, `customers/${old.record.customerId}`);
    await page.getByRole('link', { name: `Report card ${old.record.n}` }).click();
    const report = page.getByRole('form', { name: 'Report a card' });
    await report.getByLabel('Reason').selectOption('lost');
    await report.getByRole('button', { name: 'Report and block the card' }).click();
    await page
      .getByRole('dialog', { name: `Block card ${old.record.n}?` })
      .getByRole('button', { name: 'Block the card' })
      .click();

    // The passkey, e-mailed to the registered address (read from the loopback SMTP server), typed at the desk.
    const send = page.getByRole('form', { name: 'Send a passkey' });
    await send.getByRole('button', { name: 'Send passkey' }).click();
    const enter = page.getByRole('form', { name: 'Enter the passkey' });
    await enter.waitFor();
    const passkey = await mailedPasskey(mail, CUSTOMER_EMAIL);
    const field = enter.getByLabel('Passkey the customer reads out');
    await field.fill(passkey);
    await field.press('Enter');
    await page.getByTestId('case-verified').waitFor();

    // The reissue step: the blank card in the second reader becomes the new card.
    await page.getByTestId('reissue-step').waitFor();
    await page
      .getByRole('radio', { name: new RegExp(`^${newReader.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*blank`) })
      .check();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Reissue onto this card' }).click();
    await page.getByTestId('reissued-n').waitFor({ timeout: 60_000 });
    expect(await seriousA11yViolations(page)).toEqual([]);
    const mine = await desk.sql.all<{ id: number; n: string; state: string }>(
      'SELECT id, n, state FROM cards WHERE customer_id = ? ORDER BY id',
      old.record.customerId,
    );
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ n: old.record.n, state: 'blocked' });
    const fresh = mine[1]!;
    expect(fresh.state).toBe('awaiting_activation');
    expect(fresh.n).not.toBe(old.record.n);
    expect((await page.getByTestId('reissued-n').textContent())?.replace(/[\s-]/g, '')).toBe(fresh.n);

    // The new card's K/N mailer under dual control; activation with its K loads the carried quota.
    value(
      await call(manager, 'mailer:print', {
        cardRef: fresh.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    const key = KEY_FORMAT.exec(pdfText(mailer.printer.jobs.at(-1)!.pdf))?.[0] ?? '';
    expect(key).not.toBe('');
    value(await call(clerk, 'activation:activate', { reader: newReader, key, pin: PIN, pinRepeat: PIN }));
    const lists = await desk.sql.all<{ state: string; length: number }>(
      'SELECT state, length FROM code_lists WHERE card_ref = ? ORDER BY seq',
      fresh.id,
    );
    expect(lists).toEqual([{ state: 'active', length: 100 - USED }]);
    const first = await nextCodeIn(readers(), newReader, PIN);
    expect(first).toMatchObject({ index: 1, remaining: 100 - USED - 1 });

    // The verification service (HTTP, same database): the new card's code accepted, the old card's refused.
    const svc = await startDeskService(desk.ws, desk.dataDir);
    try {
      const apiKey = await svc.key('verify');
      const accepted = await httpCall(svc.url, '/v1/verify', { key: apiKey, body: { n: fresh.n, code: first.code } });
      expect(accepted.body).toMatchObject({ result: 'accepted' });
      const refused = await httpCall(svc.url, '/v1/verify', { key: apiKey, body: { n: old.record.n, code: stolen } });
      expect(refused.body).toMatchObject({ result: 'rejected', reason: 'card_blocked' });
    } finally {
      await svc.close();
    }
    const actions = (await auditRows(ws)).map((a) => a.action);
    for (const step of ['support.reported', 'support.passkey_sent', 'support.verified', 'reissue.completed'])
      expect(actions).toContain(step);
    expect(
      await desk.sql.all(
        "SELECT kind FROM suspicion_events WHERE card_ref = ? AND kind = 'blocked_card_used'",
        old.record.id,
      ),
    ).toHaveLength(1);
  }, 240_000);
});

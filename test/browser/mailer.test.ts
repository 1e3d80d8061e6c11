import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAILER_ALPHABET } from '../../src/core/crypto/mailer-key-format';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { approve, signIn } from '../support/desk-pages';
import { keystoreWithMasterKey } from '../support/keys';
import { cardAwaitingActivation, pdfText, testMailer, type RecordingPrinter } from '../support/mailer';
import { addOperator, setupOfficer } from '../support/operators';

const C = `[${MAILER_ALPHABET}]`;
const KEY_FORMAT = new RegExp(`${C}{5}(?:-${C}{5}){6}`, 'g');

describe('the Mailers page (browser mode, real services, headless Chromium renders the PDFs)', () => {
  let desk: Desk;
  let printer: RecordingPrinter;
  beforeEach(async () => {
    const mailer = testMailer();
    printer = mailer.printer;
    desk = await openDesk({ mailer });
  });
  afterEach(async () => {
    await desk.close();
  });

  it('a manager prints a mailer with a second manager approving, then the day’s batch with progress; K never reaches the page', async () => {
    const ws = desk.ws;
    const officer = await setupOfficer(ws);
    await keystoreWithMasterKey(ws, officer, await addOperator(ws, 'security_officer'));
    const manager = await addOperator(ws, 'manager');
    const manager2 = await addOperator(ws, 'manager');
    const cards = [];
    for (const name of ['Ada Lovelace', 'Alan Turing', 'Grace Hopper']) {
      cards.push((await cardAwaitingActivation(ws, { fullName: name })).card);
    }
    // Enrolled two days ago and still waiting: not in the day's batch unless the manager includes it.
    const older = (await cardAwaitingActivation(ws, { fullName: 'Edsger Dijkstra' })).card;
    await desk.sql.run(
      'UPDATE cards SET enrolled_at = ? WHERE id = ?',
      new Date(Date.now() - 2 * 86_400_000).toISOString(),
      older.id,
    );

    const page = await desk.openPage();
    await signIn(page, manager.username, manager.password);
    await page.getByRole('link', { name: 'Mailers' }).click();
    const queue = page.getByRole('table', { name: 'Cards and their mailers' });
    await queue.getByText('Ada Lovelace').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    // One mailer: confirm, then the second manager approves at the same desk.
    await page.getByRole('button', { name: `Print mailer for ${cards[0]!.n}`, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Continue to approval' }).click();
    await approve(page, manager2.username, manager2.password);
    await page.getByTestId('mailer-notice').getByText(`Mailer M-000001 for ${cards[0]!.n}`).waitFor();
    expect(printer.jobs).toHaveLength(1);
    expect(pdfText(printer.jobs[0]!.pdf)).toContain(cards[0]!.n);
    // Printed once: the queue offers a reprint for it now, not a print.
    await page
      .getByRole('button', { name: `Print mailer for ${cards[0]!.n}`, exact: true })
      .waitFor({ state: 'detached' });
    await page.getByRole('button', { name: `Reprint mailer for ${cards[0]!.n}` }).waitFor();

    // The batch: the two cards still waiting, with a progress bar and a result per mailer.
    await page.getByRole('button', { name: 'Print the day’s batch (2)' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Continue to approval' }).click();
    await approve(page, manager2.username, manager2.password);
    await page.getByTestId('mailer-notice').getByText('2 of 2 mailers printed').waitFor();
    const bar = page.getByRole('progressbar', { name: /Batch: 2 of 2 mailers/ });
    expect(await bar.getAttribute('value')).toBe('2');
    const results = page.getByRole('table', { name: 'Batch results' });
    for (const card of cards.slice(1)) {
      expect(await results.getByRole('row').filter({ hasText: card.n }).getByText('printed').count()).toBe(1);
    }
    expect(printer.jobs).toHaveLength(3);
    expect(await seriousA11yViolations(page)).toEqual([]);
    // The older card was left out; the count shows what a batch would print before it is printed.
    await page.getByRole('button', { name: 'Print the day’s batch (0)' }).waitFor();
    const includeOlder = page.getByRole('checkbox', { name: 'Include 1 older waiting card' });
    await includeOlder.check();
    expect(await page.getByRole('button', { name: 'Print the day’s batch (1)' }).isEnabled()).toBe(true);
    await includeOlder.uncheck();
    expect(await page.getByRole('button', { name: 'Print the day’s batch (0)' }).isDisabled()).toBe(true);

    // A reprint: a reason first (a blank one is refused in the form), then the approval.
    await page.getByRole('button', { name: `Reprint mailer for ${cards[0]!.n}` }).click();
    const reprint = page.getByRole('dialog', { name: 'Reprint mailer' });
    await reprint.getByRole('button', { name: 'Continue to approval' }).click();
    await reprint.getByText('Say why the mailer is reprinted').waitFor();
    await reprint.getByLabel('Reason', { exact: true }).fill('envelope arrived opened');
    await reprint.getByLabel('Reason', { exact: true }).press('Enter');
    await approve(page, manager2.username, manager2.password);
    await page.getByTestId('mailer-notice').getByText(`Mailer M-000004 for ${cards[0]!.n} (key series 2)`).waitFor();
    expect(printer.jobs).toHaveLength(4);
    expect((await ws.keystore.current().cardKeyState(cards[0]!.n)).pendingSn).toBe(2);

    // The print log: sortable, paged, four rows, never K.
    await page.getByRole('button', { name: 'Print log' }).click();
    const log = page.getByRole('table', { name: 'Mailer print log' });
    await log.getByText('M-000004').waitFor();
    expect(await log.getByRole('row').count()).toBe(5);
    await log.getByRole('button', { name: 'Serial' }).click();
    await log.locator('th[aria-sort="ascending"]').waitFor();
    expect(await log.getByRole('row').nth(1).getByRole('cell').first().textContent()).toBe('M-000001');
    expect(await seriousA11yViolations(page)).toEqual([]);

    const keys = printer.jobs.flatMap((j) => pdfText(j.pdf).match(KEY_FORMAT) ?? []);
    expect(keys).toHaveLength(4);
    const html = await page.content();
    for (const k of keys) {
      expect(html).not.toContain(k);
      expect(html).not.toContain(k.replace(/-/g, ''));
    }
  });
});

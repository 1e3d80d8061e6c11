import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardReaderService } from '../../src/core/card/reader.types';
import { MAILER_ALPHABET, parseMailerKey } from '../../src/core/crypto/mailer-key-format';
import { DEFAULT_POLICIES } from '../../src/core/policy/policy-values';
import { normaliseN } from '../../src/core/enrollment/identification-code';
import { nextCodeIn, prepareKeystore } from '../support/activation-cards';
import { openDesk, type Desk } from '../support/browser';
import { approve, fillCustomer, openPageByAddress, signIn, signOut } from '../support/desk-pages';
import { pdfText, testMailer, type RecordingPrinter } from '../support/mailer';
import { addOperator, approvalFor, setupOfficer, value, type TestOperator } from '../support/operators';
import { clusterFilesOf, encodings } from '../support/secret-encodings';
import { testEngine } from '../support/test-engine';
import { createTestCard, readCard } from '../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../support/testbed';

// The loop the workstation exists for, in Chromium over the real stack (loopback host, database,
// keystore, pcscd + vpcd + the virtual card), on the run's engine (the desk's SQLite file, or on the
// PostgreSQL pass a branch network's PostgreSQL, issue 12): a clerk records a customer and enrolls a
// blank card; a manager prints the K/N mailer with a second manager approving; the cardholder
// activates the card with K read from that PDF; the first list goes to the card at once; the card's
// next code is accepted by verify, and a second use of it is refused.

const C = `[${MAILER_ALPHABET}]`;
const KEY_FORMAT = new RegExp(`${C}{5}(?:-${C}{5}){6}`);
const PIN = '27182818';

/** Where the desk's data lies on disk: the SQLite file and its WAL, or the test cluster's files of its database. */
async function dataFilesOf(desk: Desk): Promise<{ where: string; text: string }[]> {
  if (testEngine === 'postgres')
    return (await clusterFilesOf(desk.sql)).map((f) => ({
      where: `postgres:${f}`,
      text: readFileSync(f).toString('latin1'),
    }));
  const files = readdirSync(desk.dataDir).filter((f) => f.startsWith('workstation.db'));
  expect(files).toEqual(expect.arrayContaining(['workstation.db', 'workstation.db-wal']));
  return files.map((f) => ({ where: f, text: readFileSync(join(desk.dataDir, f)).toString('latin1') }));
}

describe(`issuing codes to a card, end to end (browser mode, real pcscd, ${testEngine})`, () => {
  let bed: Testbed;
  let desk: Desk;
  let printer: RecordingPrinter;
  let clerk: TestOperator;
  let manager: TestOperator;
  let manager2: TestOperator;
  let auditor: TestOperator;
  const answers: Promise<string>[] = [];

  beforeAll(async () => {
    bed = await useTestbed('issuance-e2e');
    const mailer = testMailer();
    printer = mailer.printer;
    desk = await openDesk({ readers: 'pcsc', mailer });
    const officer = await setupOfficer(desk.ws);
    const second = await addOperator(desk.ws, 'security_officer');
    await prepareKeystore(desk.ws, officer, second);
    // 8-digit codes, so that the secret scan below cannot mistake a code for other digits.
    value(
      await desk.ws.router.dispatch(officer.client, 'policy:update', {
        baseVersion: 0,
        policies: { ...DEFAULT_POLICIES, codeDigits: 8 },
        approval: await approvalFor(desk.ws, officer, 'policy.update', second),
      }),
    );
    auditor = officer;
    clerk = await addOperator(desk.ws, 'clerk');
    manager = await addOperator(desk.ws, 'manager');
    manager2 = await addOperator(desk.ws, 'manager');
    const readers = desk.ws.readers as CardReaderService;
    await eventually(() => readers.snapshot().readers.length === 2, 'both vpcd readers', 10_000);
  }, 120_000);

  afterAll(async () => {
    await desk?.close();
    await bed?.close();
  });

  it('customer → enrollment → mailer under dual control → activation with K from the PDF → first list → a code accepted once', async () => {
    const blank = createTestCard(bed.cardDir);
    await bed.insert(blank.file, 0);
    const page = await desk.openPage();
    // Every answer main gives the page, for the secret scan.
    page.on('response', (r) => {
      if (r.url().endsWith('/rpc')) answers.push(r.text().catch(() => ''));
    });

    // The clerk records the customer and enrolls the blank card.
    await signIn(page, clerk.username, clerk.password);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Customers' }).click();
    await page.getByRole('region', { name: 'Customers' }).getByRole('link', { name: 'New customer' }).click();
    await fillCustomer(page, 'Create customer', {
      name: 'Katherine Johnson',
      born: '1978-08-26',
      ref: 'C-E2E-1',
      city: 'London',
      email: 'katherine@example.org',
      mobile: '+44 7700 900777',
    });
    await page.getByRole('button', { name: 'Create customer' }).click();
    await page.getByRole('region', { name: 'Customer' }).getByRole('heading', { name: 'Katherine Johnson' }).waitFor();

    await page.getByRole('link', { name: 'Enroll' }).click();
    const wizard = page.getByRole('region', { name: 'Enroll a card' });
    await wizard.getByLabel('Customer name or reference').fill('katherine');
    await wizard.getByLabel('Customer name or reference').press('Enter');
    await wizard.getByRole('button', { name: 'Choose Katherine Johnson' }).click();
    const readersGroup = wizard.getByRole('group', { name: 'Readers with a card' });
    await readersGroup.getByText(`card ${blank.cardId.toUpperCase()}, blank`).waitFor({ timeout: 10_000 });
    await readersGroup.getByLabel(new RegExp(bed.readerName(0))).check();
    await wizard.getByRole('button', { name: 'Next' }).click();
    await wizard.getByRole('button', { name: 'Enroll card' }).click();
    await wizard.getByRole('heading', { name: '5. Card enrolled' }).waitFor({ timeout: 20_000 });
    const n = normaliseN((await wizard.getByTestId('enrolled-n').textContent()) ?? '');
    expect(readCard(blank)).toMatchObject({ lifeCycle: 'personalised', n });
    await signOut(page);

    // A manager prints the mailer; a second manager approves at the same desk.
    await signIn(page, manager.username, manager.password);
    await page.getByRole('link', { name: 'Mailers' }).click();
    await page.getByRole('button', { name: `Print mailer for ${n}`, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Continue to approval' }).click();
    await approve(page, manager2.username, manager2.password);
    await page.getByTestId('mailer-notice').getByText(`for ${n}`).waitFor();
    expect(printer.jobs).toHaveLength(1);
    const letter = pdfText(printer.jobs[0]!.pdf);
    expect(letter).toContain(n);
    const k = KEY_FORMAT.exec(letter)?.[0];
    expect(k).toBeDefined();
    await signOut(page);

    // The cardholder activates with K from that PDF at the clerk's desk; the first list follows.
    await signIn(page, clerk.username, clerk.password);
    await openPageByAddress(page, 'cards');
    const form = page.getByRole('form', { name: 'Activate card' });
    await form.getByLabel('Activation key from the mailer').pressSequentially(k!);
    await form.getByLabel('New PIN', { exact: true }).fill(PIN);
    await form.getByLabel('Repeat PIN').fill(PIN);
    await form.getByRole('button', { name: 'Activate' }).click();
    await page
      .locator('[data-testid=card-state]', { hasText: /^active$/ })
      .waitFor({ timeout: 20_000 })
      .catch(async (e: unknown) => {
        throw new Error(`the card page did not show the card active: ${await page.locator('main').innerText()}`, {
          cause: e,
        });
      });
    expect(readCard(blank)).toMatchObject({ lifeCycle: 'active' });
    // The first list followed at once: on the card, and active at the issuer after its receipt.
    await expect
      .poll(() => desk.sql.all('SELECT seq, state FROM code_lists ORDER BY seq'), { timeout: 15_000 })
      .toEqual([{ seq: 1, state: 'active' }]);
    expect(readCard(blank)).toMatchObject({ list: { listSeq: 1 } });
    expect(await page.content()).not.toContain(k!);

    // The card gives its next code behind the PIN; the issuer accepts it once.
    const readers = desk.ws.readers as CardReaderService;
    const code = await nextCodeIn(readers, bed.readerName(0), PIN);
    expect(await desk.ws.verification.verify(n, code.code)).toMatchObject({ accepted: true, index: 1 });
    expect(await desk.ws.verification.verify(n, code.code)).toEqual({ accepted: false, reason: 'already_used' });

    // Secret scan: K (as printed, as typed, as key bytes), the code and the PIN appear in no
    // database page, WAL, log, audit export or answer to the page — only in the printed PDF.
    const key = parseMailerKey(k!);
    if (!key.ok) throw new Error('the printed K does not parse');
    const secrets = [
      { name: 'K as printed', value: k! },
      { name: 'K as typed', value: k!.replace(/-/g, '') },
      ...encodings(key.key).map((value) => ({ name: 'K bytes', value })),
      { name: 'code', value: code.code },
      { name: 'PIN', value: PIN },
    ];
    const exported = await desk.ws.router.dispatch(auditor.client, 'audit:export', { format: 'json' });
    expect(exported.ok).toBe(true);
    const logs = join(desk.dataDir, 'logs');
    const stored = await dataFilesOf(desk);
    // The scan reads what the database holds: the customer's name is in its files.
    expect(stored.some((p) => p.text.includes('Katherine Johnson'))).toBe(true);
    const places = [
      ...stored,
      ...readdirSync(logs).map((f) => ({ where: `logs/${f}`, text: readFileSync(join(logs, f), 'utf8') })),
      { where: 'audit export', text: JSON.stringify(exported) },
      { where: 'answers to the page', text: (await Promise.all(answers)).join('\n') },
    ];
    expect(places.find((p) => p.where === 'answers to the page')!.text).toContain(n); // the scan sees the answers
    const found = places.flatMap((p) =>
      secrets.filter((s) => p.text.includes(s.value)).map((s) => `${s.name} in ${p.where}`),
    );
    expect(found).toEqual([]);
    expect(letter.replace(/\s/g, '')).toContain(k!); // control: the one place K belongs
  });
});

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isValidN, normaliseN } from '../../src/core/enrollment/identification-code';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { signIn } from '../support/desk-pages';
import { addCustomer, keystoreReadyToEnroll } from '../support/enrollment';
import { addOperator, setupOfficer, type TestOperator } from '../support/operators';
import { createTestCard, readCard } from '../support/test-cards';
import { useTestbed, type Testbed } from '../support/testbed';

// A clerk enrolls a blank virtual card for a customer at the desk: Chromium → loopback host →
// the workstation → pcscd → vpcd → the card process. Every wizard step passes axe.

describe('enrollment wizard (browser mode, real pcscd)', () => {
  let bed: Testbed;
  let desk: Desk;
  let page: Page;
  let clerk: TestOperator;

  beforeAll(async () => {
    bed = await useTestbed('enrollment-browser');
    desk = await openDesk({ readers: 'pcsc' });
    const officer = await setupOfficer(desk.ws);
    await keystoreReadyToEnroll(desk.ws, officer, await addOperator(desk.ws, 'security_officer'));
    clerk = await addOperator(desk.ws, 'clerk');
    page = await desk.openPage();
    await signIn(page, clerk.username, clerk.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
  }, 90_000);

  afterAll(async () => {
    await desk?.close();
    await bed?.close();
  });

  it('a clerk enrolls a blank card for a customer, step by step, with no serious a11y violation', async () => {
    const customer = await addCustomer(desk.ws, 'Małgorzata Kowalska');
    await addCustomer(desk.ws, 'Max Mustermann');
    const blank = createTestCard(bed.cardDir);
    const other = createTestCard(bed.cardDir);
    await bed.insert(other.file, 0);
    await bed.insert(blank.file, 1);

    await page.getByRole('link', { name: 'Enroll' }).click();
    const wizard = page.getByRole('region', { name: 'Enroll a card' });
    await wizard.waitFor();

    // 1. Customer: search by part of the name.
    await wizard.getByLabel('Customer name or reference').fill('kowal');
    await wizard.getByLabel('Customer name or reference').press('Enter');
    const results = wizard.getByRole('table', { name: 'Matching customers' });
    await results.getByRole('cell', { name: 'Małgorzata Kowalska', exact: true }).waitFor();
    expect(await results.getByRole('row').count()).toBe(2); // header + one match
    expect(await seriousA11yViolations(page)).toEqual([]);
    await results.getByRole('button', { name: 'Choose Małgorzata Kowalska' }).click();

    // 2. Card: both readers hold a card; the clerk picks the second one. Nothing is preselected.
    const readers = wizard.getByRole('group', { name: 'Readers with a card' });
    await readers.getByText(`card ${blank.cardId.toUpperCase()}, blank`).waitFor({ timeout: 10_000 });
    await readers.getByText(`card ${other.cardId.toUpperCase()}, blank`).waitFor();
    expect(await wizard.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await readers.getByLabel(new RegExp(bed.readerName(1))).check();
    await wizard.getByRole('button', { name: 'Next' }).click();

    // 3. Confirm.
    await wizard.getByRole('heading', { name: '3. Confirm' }).waitFor();
    await wizard.getByText(blank.cardId.toUpperCase(), { exact: true }).waitFor();
    await wizard.getByText(/A blank OTAC card: ready to enroll/).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await wizard.getByRole('button', { name: 'Enroll card' }).click();

    // 4 → 5. Progress, then the result with N.
    await wizard.getByRole('heading', { name: '5. Card enrolled' }).waitFor({ timeout: 20_000 });
    const shownN = (await wizard.getByTestId('enrolled-n').textContent()) ?? '';
    expect(shownN).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$/);
    expect(isValidN(normaliseN(shownN))).toBe(true);
    await wizard.getByText(/mailer with the activation key will be printed by a manager/).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    // The card and the database say the same; the other card was not touched.
    const n = normaliseN(shownN);
    expect(readCard(blank)).toMatchObject({ lifeCycle: 'personalised', n });
    expect(readCard(other)).toEqual(other.record);
    const row = await desk.sql.get(
      'SELECT customer_id, state, n FROM cards WHERE card_id = ?',
      blank.cardId.toUpperCase(),
    );
    expect(row).toEqual({ customer_id: customer.id, state: 'awaiting_activation', n });
    // The page never held K: nothing but N and the card id.
    const html = await page.content();
    const k = readCard(blank).cardKey!;
    expect(html.toLowerCase()).not.toContain(k);

    // The same card again is refused with a clear next step, in the wizard.
    await wizard.getByRole('button', { name: 'Enroll another card' }).click();
    await wizard.getByLabel('Customer name or reference').fill('Max');
    await wizard.getByLabel('Customer name or reference').press('Enter');
    await wizard.getByRole('button', { name: 'Choose Max Mustermann' }).click();
    await readers.getByLabel(new RegExp(bed.readerName(1))).check();
    await wizard.getByRole('button', { name: 'Next' }).click();
    await wizard.getByText(/already enrolled. Use a blank card from stock/).waitFor();
    expect(await wizard.getByRole('button', { name: 'Enroll card' }).count()).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
  }, 90_000);
});

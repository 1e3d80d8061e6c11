import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { signIn } from '../support/desk-pages';
import { addOperator, setupOfficer, type TestOperator } from '../support/operators';

// A clerk serves a customer at the desk: creates the record, is warned when creating the same
// person again, finds them, opens their page and corrects an address, by keyboard where a clerk
// would. Every page passes axe with no serious or critical violation.

async function fillCustomer(
  page: Page,
  formName: string,
  c: { name: string; born: string; ref: string; city: string; email: string; mobile: string },
) {
  const form = page.getByRole('form', { name: formName });
  await form.getByLabel('Full name', { exact: true }).fill(c.name);
  await form.getByLabel('Birth date', { exact: true }).fill(c.born);
  await form.getByLabel('Customer reference', { exact: true }).fill(c.ref);
  await form.getByLabel('Branch', { exact: true }).fill('London Central');
  await form.getByLabel('Address line 1', { exact: true }).fill('12 St James’s Square');
  await form.getByLabel('Postal code', { exact: true }).fill('SW1Y 4JH');
  await form.getByLabel('City', { exact: true }).fill(c.city);
  await form.getByLabel('Country', { exact: true }).selectOption('GB');
  await form.getByLabel('E-mail (optional)', { exact: true }).fill(c.email);
  await form.getByLabel('Mobile (optional)', { exact: true }).fill(c.mobile);
}

const count = (desk: Desk) => (desk.ws.db.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n;

describe('customers (browser mode, real services)', () => {
  let desk: Desk;
  let clerk: TestOperator;
  beforeAll(async () => {
    desk = await openDesk();
    await setupOfficer(desk.ws);
    clerk = await addOperator(desk.ws, 'clerk');
  });
  afterAll(async () => {
    await desk.close();
  });

  it('a clerk creates, is warned of a duplicate, searches, opens and edits a customer', async () => {
    const page = await desk.openPage();
    await signIn(page, clerk.username, clerk.password);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Customers' }).click();
    const list = page.getByRole('region', { name: 'Customers' });
    await list.getByTestId('customers-empty').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    // Create: a wrong mobile number first is refused inline, with nothing saved.
    await list.getByRole('link', { name: 'New customer' }).click();
    await page.getByRole('form', { name: 'Create customer' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    const ada = {
      name: 'Ada Lovelace',
      born: '1985-12-10',
      ref: 'C-1001',
      city: 'London',
      email: 'ada@example.org',
      mobile: '07700 900001',
    };
    await fillCustomer(page, 'Create customer', ada);
    await page.getByRole('button', { name: 'Create customer' }).click();
    const mobileError = page.getByRole('form', { name: 'Create customer' }).locator('.field-error');
    await mobileError.getByText('international form').waitFor();
    expect(count(desk)).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.getByLabel('Mobile (optional)').fill('+44 7700 900001');
    await page.getByLabel('Mobile (optional)').press('Enter');
    const customerPage = page.getByRole('region', { name: 'Customer' });
    await customerPage.getByRole('heading', { name: 'Ada Lovelace' }).waitFor();
    await customerPage.getByText('No card is bound to this customer yet').waitFor();
    await customerPage.getByRole('table', { name: 'History of this customer' }).getByText('customer.create').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect(count(desk)).toBe(1);

    // The same person again (another reference, same e-mail): warned, Cancel saves nothing.
    await customerPage.getByRole('link', { name: 'Back to customers' }).click();
    await list.getByRole('link', { name: 'New customer' }).click();
    await fillCustomer(page, 'Create customer', { ...ada, ref: 'C-1002', mobile: '+44 7700 900002' });
    await page.getByRole('button', { name: 'Create customer' }).click();
    const dialog = page.getByRole('dialog', { name: 'Possible duplicate' });
    await dialog.waitFor();
    const candidates = dialog.getByRole('list', { name: 'Possible duplicates' });
    expect(await candidates.getByRole('listitem').count()).toBe(1);
    expect(await candidates.textContent()).toMatch(
      /Ada Lovelace.*born 1985-12-10.*same name and birth date, same e-mail/,
    );
    expect(await seriousA11yViolations(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(count(desk)).toBe(1);
    // A different person who shares nothing is created without a warning.
    await fillCustomer(page, 'Create customer', {
      name: 'Grace Hopper',
      born: '1966-12-09',
      ref: 'C-2002',
      city: 'Bath',
      email: 'grace@example.org',
      mobile: '+12025550123',
    });
    await page.getByRole('button', { name: 'Create customer' }).click();
    await customerPage.getByRole('heading', { name: 'Grace Hopper' }).waitFor();
    expect(count(desk)).toBe(2);

    // Search by a folded word of the name with Enter; the result row opens by keyboard.
    await customerPage.getByRole('link', { name: 'Back to customers' }).click();
    const search = list.getByLabel('Search', { exact: true });
    await search.fill('LOVELACE');
    await search.press('Enter');
    const table = list.getByRole('table', { name: 'Customer list' });
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    await search.fill('');
    await search.press('Enter');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
    // Sorted by name: Ada first, then Grace; arrow down moves to Grace, Enter opens her.
    await table.getByRole('link', { name: 'Ada Lovelace' }).focus();
    await page.keyboard.press('ArrowDown');
    expect(await page.locator(':focus').textContent()).toBe('Grace Hopper');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    await customerPage.getByRole('heading', { name: 'Ada Lovelace' }).waitFor();

    // Edit: the form opens with the saved values; the change shows and is audited by field name.
    await customerPage.getByRole('link', { name: 'Edit customer' }).click();
    const edit = page.getByRole('form', { name: 'Edit customer' });
    await edit.waitFor();
    expect(await edit.getByLabel('Full name', { exact: true }).inputValue()).toBe('Ada Lovelace');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await edit.getByLabel('City', { exact: true }).fill('Marylebone');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await customerPage.getByText('Marylebone').waitFor();
    await customerPage.getByText('version 2').waitFor();
    const history = customerPage.getByRole('table', { name: 'History of this customer' });
    await history.getByText('customer.update').waitFor();
    expect(await history.textContent()).toContain('address.city');
    expect(await history.textContent()).not.toContain('Marylebone');
    expect(await seriousA11yViolations(page)).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { fillCustomer, signIn } from '../support/desk-pages';
import { addOperator, setupOfficer, type TestOperator } from '../support/operators';

// A clerk serves a customer at the desk: creates the record, is warned when creating the same
// person again, finds them, opens their page and corrects an address, by keyboard where a clerk
// would. Every page passes axe with no serious or critical violation.

const count = async (desk: Desk) => (await desk.sql.get<{ n: number }>('SELECT count(*) AS n FROM customers'))?.n;

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
    expect(await count(desk)).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.getByLabel('Mobile (optional)').fill('+44 7700 900001');
    await page.getByLabel('Mobile (optional)').press('Enter');
    const customerPage = page.getByRole('region', { name: 'Customer' });
    await customerPage.getByRole('heading', { name: 'Ada Lovelace' }).waitFor();
    await customerPage.getByText('No card is bound to this customer yet').waitFor();
    await customerPage.getByRole('table', { name: 'History of this customer' }).getByText('customer.create').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect(await count(desk)).toBe(1);

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
    expect(await count(desk)).toBe(1);
    // Asked again, the clerk decides it is another person: "Create anyway" saves, and says so.
    await page.getByRole('button', { name: 'Create customer' }).click();
    await dialog.getByRole('button', { name: 'Create anyway' }).click();
    await customerPage.getByText('C-1002').waitFor();
    expect(await count(desk)).toBe(2);
    const confirmed = await desk.sql.get<{ details: string }>(
      "SELECT details FROM audit_log WHERE action = 'customer.create' ORDER BY seq DESC LIMIT 1",
    );
    expect(JSON.parse(confirmed?.details ?? '{}')).toMatchObject({ duplicatesConfirmed: 'customer:1' });
    await customerPage.getByRole('link', { name: 'Back to customers' }).click();
    await list.getByRole('link', { name: 'New customer' }).click();
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
    expect(await count(desk)).toBe(3);

    // Search by a folded word of the name with Enter; the result row opens by keyboard.
    await customerPage.getByRole('link', { name: 'Back to customers' }).click();
    const search = list.getByLabel('Search', { exact: true });
    await search.fill('LOVELACE');
    await search.press('Enter');
    const table = list.getByRole('table', { name: 'Customer list' });
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
    await search.fill('');
    await search.press('Enter');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(3);
    // Sorted by name: the two Adas, then Grace; arrows move between rows, Enter opens one.
    await table.getByRole('link', { name: 'Ada Lovelace' }).first().focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await page.locator(':focus').textContent()).toBe('Grace Hopper');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    await customerPage.getByText('C-1001').waitFor();
    // The Name header sorts descending on a click: Grace first.
    await page.goBack();
    await table.getByRole('button', { name: 'Name' }).click();
    await expect.poll(() => table.locator('tbody tr').first().textContent()).toContain('Grace Hopper');
    await table.getByRole('link', { name: 'Ada Lovelace' }).last().click();
    await customerPage.getByText('C-1001').waitFor();

    // Edit: the form opens with the saved values; the change shows and is audited by field name.
    await customerPage.getByRole('link', { name: 'Edit customer' }).click();
    const edit = page.getByRole('form', { name: 'Edit customer' });
    await edit.waitFor();
    expect(await edit.getByLabel('Full name', { exact: true }).inputValue()).toBe('Ada Lovelace');
    expect(await seriousA11yViolations(page)).toEqual([]);
    // Another desk saves first: this edit is refused as stale, nothing of it is saved, reload starts over.
    const other = await addOperator(desk.ws, 'support');
    const r = await desk.ws.router.dispatch(other.client, 'customers:update', {
      id: 1,
      version: 1,
      customer: {
        fullName: 'Ada Lovelace',
        birthDate: '1985-12-10',
        customerRef: 'C-1001',
        address: { line1: '12 St James’s Square', postalCode: 'SW1Y 4JH', city: 'London', country: 'GB' },
        email: 'ada@example.org',
        mobile: '+44 7700 900001',
        branch: 'Bath',
      },
    });
    expect(r.ok).toBe(true);
    await edit.getByLabel('City', { exact: true }).fill('Soho');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.locator('[data-code=CUSTOMER_STALE]').waitFor();
    expect(await desk.sql.get('SELECT city, branch, version FROM customers WHERE id = 1')).toEqual({
      city: 'London',
      branch: 'Bath',
      version: 2,
    });
    await edit.getByRole('button', { name: 'Reload the customer' }).click();
    await expect.poll(() => edit.getByLabel('Branch', { exact: true }).inputValue()).toBe('Bath');
    expect(await edit.getByLabel('City', { exact: true }).inputValue()).toBe('London');
    await edit.getByLabel('City', { exact: true }).fill('Marylebone');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await customerPage.getByText('Marylebone').waitFor();
    await customerPage.getByText('version 3').waitFor();
    const history = customerPage.getByRole('table', { name: 'History of this customer' });
    // Newest first: this save, the refused stale one, the other desk's.
    await expect
      .poll(async () => (await history.locator('tbody tr').allTextContents()).slice(0, 3).map((t) => /denied/.test(t)))
      .toEqual([false, true, false]);
    expect(await history.textContent()).toContain('address.city');
    expect(await history.textContent()).not.toContain('Marylebone');
    expect(await seriousA11yViolations(page)).toEqual([]);
  });

  it('an auditor finds and reads a customer, with nothing to edit', async () => {
    const auditor = await addOperator(desk.ws, 'auditor');
    const page = await desk.openPage();
    await signIn(page, auditor.username, auditor.password);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Customers' }).click();
    const list = page.getByRole('region', { name: 'Customers' });
    await list.getByRole('table', { name: 'Customer list' }).waitFor();
    expect(await list.getByRole('link', { name: 'New customer' }).count()).toBe(0);
    await list.getByLabel('Search in').selectOption('customerRef');
    await list.getByLabel('Search', { exact: true }).fill('C-2002');
    await list.getByLabel('Search', { exact: true }).press('Enter');
    await list.getByRole('link', { name: 'Grace Hopper' }).click();
    const customerPage = page.getByRole('region', { name: 'Customer' });
    await customerPage.getByRole('heading', { name: 'Grace Hopper' }).waitFor();
    expect(await customerPage.getByRole('link', { name: 'Edit customer' }).count()).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
  });
});

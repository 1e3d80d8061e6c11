import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../src/card-sim/dev-transport-key';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { signIn } from '../support/desk-pages';
import { addCustomer } from '../support/enrollment';
import { keystoreWithMasterKey } from '../support/keys';
import { addOperator, setupOfficer, value, type TestOperator } from '../support/operators';

// Training mode (OTAC_READER=training): no pcscd. The clerk takes a blank practice card from the
// drawer, enrolls it, meets a fault on the way (no vendor transport key yet: nothing is bound) and
// retries with the same card once an officer has imported the key.

describe('enrollment in training mode (browser mode, in-process reader)', () => {
  let desk: Desk;
  let page: Page;
  let clerk: TestOperator;
  let officer: TestOperator;
  let second: TestOperator;

  beforeAll(async () => {
    desk = await openDesk({ readers: 'training' });
    officer = await setupOfficer(desk.ws);
    second = await addOperator(desk.ws, 'security_officer');
    await keystoreWithMasterKey(desk.ws, officer, second);
    value(await desk.ws.router.dispatch(officer.client, 'keys:createBankCa', { commonName: 'Training CA' }));
    clerk = await addOperator(desk.ws, 'clerk');
    page = await desk.openPage();
    await signIn(page, clerk.username, clerk.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
  }, 90_000);

  afterAll(async () => {
    await desk?.close();
  });

  it('puts a practice card in, enrolls it after a failed first try, and takes it out', async () => {
    await addCustomer(desk.ws, 'Trainee Customer');
    await page.getByRole('link', { name: 'Enroll' }).click();
    const wizard = page.getByRole('region', { name: 'Enroll a card' });
    const drawer = wizard.getByRole('region', { name: 'Training cards' });
    await drawer.getByText('The drawer is empty').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await drawer.getByRole('button', { name: 'Put a new blank card in the reader' }).click();
    const practice = drawer.getByRole('table', { name: 'Practice cards' });
    await practice.getByRole('cell', { name: 'In the reader' }).waitFor();
    await practice.getByRole('cell', { name: 'blank', exact: true }).waitFor();

    await wizard.getByLabel('Customer name or reference').fill('Trainee');
    await wizard.getByLabel('Customer name or reference').press('Enter');
    await wizard.getByRole('button', { name: 'Choose Trainee Customer' }).click();
    const readers = wizard.getByRole('group', { name: 'Readers with a card' });
    await readers.getByText(/blank$/).waitFor();
    await readers.getByLabel(/OTAC Training Reader/).check();
    await wizard.getByRole('button', { name: 'Next' }).click();
    await wizard.getByRole('button', { name: 'Enroll card' }).click();

    // No vendor transport key yet: refused before anything is bound, with what to do next.
    await wizard.getByText(/no vendor transport key/i).waitFor();
    await wizard.getByRole('progressbar', { name: 'Enrollment progress' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect(await desk.sql.get('SELECT COUNT(*) AS n FROM cards')).toEqual({ n: 0 });

    await desk.ws.keystore.current().importTransportMasterKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, {
      officer: officer.username,
      approver: second.username,
      reason: 'training stock',
    });
    await wizard.getByRole('button', { name: 'Retry with the same card' }).click();
    await wizard.getByRole('heading', { name: '5. Card enrolled' }).waitFor({ timeout: 15_000 });
    const n = ((await wizard.getByTestId('enrolled-n').textContent()) ?? '').replace(/-/g, '');
    expect(await desk.sql.all('SELECT state, n FROM cards ORDER BY id')).toEqual([{ state: 'awaiting_activation', n }]);

    // The practice card shows its new state in the drawer; take it out.
    await practice.getByRole('cell', { name: n, exact: true }).waitFor();
    await drawer.getByRole('button', { name: 'Take the card out' }).click();
    await practice.getByRole('button', { name: /Put card .* in the reader/ }).waitFor();
    await page.getByTestId('reader-status').getByText('1 reader, 0 cards present').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
  }, 60_000);
});

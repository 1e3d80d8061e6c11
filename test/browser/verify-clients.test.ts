import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitingTrainingCard, type AwaitingCard } from '../support/activation-cards';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { approve, openPageByAddress, signIn } from '../support/desk-pages';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../support/operators';

// The verification service at the desk (issue 10 item 1): a manager makes a client on the Service
// clients page under dual control and sees its API key once; a clerk cannot open the page. On the
// card page and the customer page, a card the service locked out shows "too many failures" (since
// when, how many), support clears it, and the refill state shows and follows a refill request.

describe('verification clients and the service lockout at the desk (browser mode)', () => {
  let desk: Desk;
  let manager: TestOperator;
  let approver: TestOperator;
  let clerk: TestOperator;
  let support: TestOperator;
  let reader: string;
  let awaiting: AwaitingCard;

  beforeAll(async () => {
    desk = await openDesk({ readers: 'training' });
    const officer = await setupOfficer(desk.ws);
    const card = await awaitingTrainingCard(desk.ws, officer, await addOperator(desk.ws, 'security_officer'));
    reader = card.reader;
    awaiting = card.awaiting;
    clerk = await addOperator(desk.ws, 'clerk');
    const activate = { reader, key: awaiting.mailerKey, pin: '2468', pinRepeat: '2468' };
    value(await desk.ws.router.dispatch(clerk.client, 'activation:activate', activate));
    manager = await addOperator(desk.ws, 'manager');
    approver = await addOperator(desk.ws, 'manager');
    support = await addOperator(desk.ws, 'support');
  }, 120_000);
  afterAll(async () => {
    await desk?.close();
  });

  it('a manager creates a client under dual control; the key shows once; a clerk cannot open the page', async () => {
    const page = await desk.openPage();
    await signIn(page, manager.username, manager.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, 'clients');
    const region = page.getByRole('region', { name: 'Verification service clients' });
    await region.getByText('No client yet').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    const form = page.getByRole('form', { name: 'New client' });
    await form.getByLabel('Name of the bank system').fill('online-banking');
    await form.getByLabel('read metrics').check();
    await form.getByRole('button', { name: 'Create client' }).click();
    await page.getByRole('dialog', { name: 'Second approver' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await approve(page, approver.username, approver.password);
    const key = (await page.getByTestId('new-api-key').textContent()) ?? '';
    expect(key).toMatch(/^otac_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const table = page.getByRole('table', { name: 'Verification service clients' });
    await table.getByRole('button', { name: 'Revoke online-banking' }).waitFor();
    expect(await table.textContent()).toContain('verify, read');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'I have handed it over' }).click();
    await page.reload();
    await table.getByRole('button', { name: 'Revoke online-banking' }).waitFor();
    expect(await page.content()).not.toContain(/^otac_[0-9a-f]{16}_(.+)$/.exec(key)?.[1] ?? 'never');
    expect((await auditRows(desk.ws)).filter((r) => r.action === 'verify_client.created')).toHaveLength(1);
    // Revoke, after a confirmation.
    await table.getByRole('button', { name: 'Revoke online-banking' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await table.getByText(/revoked/).waitFor();

    const clerkPage = await desk.openPage();
    await signIn(clerkPage, clerk.username, clerk.password);
    await clerkPage.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(clerkPage, 'clients');
    await clerkPage.locator('.banner-error[role=alert]').waitFor();
    expect(await clerkPage.getByRole('form', { name: 'New client' }).count()).toBe(0);
  }, 120_000);

  it('shows the lockout on the card and customer pages, support clears it, and the refill state follows', async () => {
    const n = awaiting.record.n;
    for (let i = 0; i < 5; i++) await desk.ws.verification.verify(n, '000000');
    const page = await desk.openPage();
    await signIn(page, support.username, support.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, `customers/${awaiting.record.customerId}`);
    await page.getByTestId(`card-use-${n}`).getByText('locked out (too many failures)').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    await openPageByAddress(page, 'cards');
    const lockout = page.getByTestId('card-lockout');
    await lockout.getByText(/Locked out: too many failures \(5 in a row\) since \d{4}-/).waitFor();
    expect(await page.getByTestId('card-refill').textContent()).toContain('no refill needed');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await lockout.getByRole('button', { name: 'Clear lockout' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Clear lockout' }).click();
    await lockout.getByText('no failed codes').waitFor();
    expect((await auditRows(desk.ws)).filter((r) => r.action === 'verification.failures_cleared')).toHaveLength(1);

    // A refill requested elsewhere shows without touching the page (it asks again every few seconds).
    value(await desk.ws.router.dispatch(support.client, 'lists:requestRefill', { n }));
    await page.getByTestId('card-refill').getByText('refill queued').waitFor({ timeout: 15_000 });
  }, 120_000);
});

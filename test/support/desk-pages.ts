import type { Page } from 'playwright-core';

// Page objects for the workstation UI: they act as an operator would and wait for what the
// app shows, never for a fixed time.

export async function setupFirstOfficer(page: Page, o: { username: string; displayName: string; password: string }) {
  const form = page.getByRole('form', { name: 'Create the first security officer' });
  await form.waitFor();
  await form.getByLabel('User name').fill(o.username);
  await form.getByLabel('Full name').fill(o.displayName);
  await form.getByLabel('Password', { exact: true }).fill(o.password);
  await form.getByLabel('Repeat password').fill(o.password);
  await form.getByRole('button', { name: 'Create security officer' }).click();
  await page.getByRole('region', { name: 'Dashboard' }).waitFor();
}

export async function signIn(page: Page, username: string, password: string) {
  const form = page.getByRole('form', { name: 'Sign in' });
  await form.waitFor();
  await form.getByLabel('User name').fill(username);
  await form.getByLabel('Password').fill(password);
  // Wait for main's answer to this very call, so attempts never overlap.
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/rpc') && (r.request().postData() ?? '').includes('"auth:signIn"')),
    form.getByLabel('Password').press('Enter'),
  ]);
}

export async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('form', { name: 'Sign in' }).waitFor();
}

export async function alertText(page: Page): Promise<string> {
  const alert = page.locator('.banner-error[role=alert]');
  await alert.waitFor();
  return (await alert.textContent()) ?? '';
}

/** Types a page's address, as an operator could, bypassing the navigation menu. */
export async function openPageByAddress(page: Page, name: string) {
  const url = new URL(page.url());
  url.hash = `#/${name}`;
  await page.goto(url.href);
}

export async function createOperator(
  page: Page,
  o: { username: string; displayName: string; role: string; password: string },
) {
  const form = page.getByRole('form', { name: 'Create operator' });
  await form.getByLabel('User name').fill(o.username);
  await form.getByLabel('Full name').fill(o.displayName);
  await form.getByLabel('Role').selectOption(o.role);
  await form.getByLabel('Temporary password').fill(o.password);
  await form.getByRole('button', { name: 'Create operator' }).click();
  await page.locator(`tr[data-username="${o.username}"]`).waitFor();
}

/** First sign-in with a temporary password: the app insists on a new one before anything else. */
export async function signInFirstTime(page: Page, username: string, temporary: string, chosen: string) {
  await signIn(page, username, temporary);
  const form = page.getByRole('form', { name: 'Change password' });
  await form.waitFor();
  await form.getByLabel('Current password').fill(temporary);
  await form.getByLabel('New password').fill(chosen);
  await form.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('region', { name: 'Dashboard' }).waitFor();
}

export async function approve(page: Page, username: string, password: string) {
  const dialog = page.getByRole('dialog', { name: 'Second approver' });
  await dialog.waitFor();
  await dialog.getByLabel('Approver user name').fill(username);
  await dialog.getByLabel('Approver password').fill(password);
  await dialog.getByRole('button', { name: 'Approve' }).click();
}

/**
 * Approves a keystore backup as its second custodian: the approver's credentials and a backup
 * passphrase of their own, typed twice.
 */
export async function approveAsCustodian(page: Page, username: string, password: string, backupPassphrase: string) {
  const dialog = page.getByRole('dialog', { name: 'Second approver' });
  await dialog.waitFor();
  await dialog.getByLabel('Approver user name').fill(username);
  await dialog.getByLabel('Approver password').fill(password);
  await dialog.getByLabel("Approver's backup passphrase", { exact: true }).fill(backupPassphrase);
  await dialog.getByLabel("Repeat approver's backup passphrase").fill(backupPassphrase);
  await dialog.getByRole('button', { name: 'Approve' }).click();
}

/** Creates the keystore from the Keys page, typing the passphrase twice. */
export async function createKeystore(page: Page, passphrase: string) {
  const create = page.getByRole('form', { name: 'Create keystore' });
  await create.getByLabel('Keystore passphrase').fill(passphrase);
  await create.getByLabel('Repeat passphrase').fill(passphrase);
  await create.getByLabel('Repeat passphrase').press('Enter');
}

/** Fills the customer form named `formName` (Create customer / Edit customer) as a clerk would. */
export async function fillCustomer(
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

import type { Page } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kcvAes } from '../../src/core/crypto/kcv';
import { openDesk, type Desk } from '../support/browser';
import {
  approve,
  approveAsCustodian,
  createKeystore,
  createOperator,
  openPageByAddress,
  setupFirstOfficer,
  signInFirstTime,
  signOut,
} from '../support/desk-pages';
import { COMPONENT_HEX, componentKcv, masterKeyOf } from '../support/keys';

const officer = { username: 'sofia', displayName: 'Sofia Officer', password: 'correct horse battery' };
const officer2 = {
  username: 'sam',
  displayName: 'Sam Second Officer',
  role: 'security_officer',
  password: 'temporary-pass-4',
};
const chosen = 'my own long password';
const passphrase = 'the keystore passphrase of this desk';
const components = COMPONENT_HEX.slice(0, 2);

/** The custodian types their own user name and password beside their component. */
async function enterComponent(page: Page, custodian: { username: string; password: string }, hex: string) {
  const form = page.getByRole('form', { name: 'Enter component' });
  await form.getByLabel('Custodian user name').fill(custodian.username);
  await form.getByLabel('Custodian password').fill(custodian.password);
  // Typed in groups of 8, as read off a sheet.
  await form.getByLabel('Component', { exact: true }).fill(hex.match(/.{8}/g)!.join(' '));
  await form.getByLabel('Component', { exact: true }).press('Enter');
}

describe('the Keys page (browser mode, real services)', () => {
  let desk: Desk;
  beforeEach(async () => {
    desk = await openDesk();
  });
  afterEach(async () => {
    await desk.close();
  });

  /** The first officer signed in on the returned page, and a second officer ready to approve. */
  async function deskWithTwoOfficers() {
    const page = await desk.openPage();
    await setupFirstOfficer(page, officer);
    await openPageByAddress(page, 'admin');
    await createOperator(page, officer2);
    const other = await desk.openPage();
    await signInFirstTime(other, officer2.username, officer2.password, chosen);
    await signOut(other);
    return page;
  }

  it('creates the keystore and forms the master key from two components under dual control, leaving no component in the page', async () => {
    const page = await deskWithTwoOfficers();

    await page.getByRole('link', { name: 'Keys' }).click();
    const create = page.getByRole('form', { name: 'Create keystore' });
    await create.getByLabel('Keystore passphrase').fill(passphrase);
    await create.getByLabel('Repeat passphrase').fill(`${passphrase} typo`);
    await create.getByRole('button', { name: 'Create keystore' }).click();
    await create.getByText('The two passphrases differ').waitFor();
    await create.getByLabel('Keystore passphrase').fill(passphrase);
    await create.getByLabel('Repeat passphrase').fill(passphrase);
    await create.getByRole('button', { name: 'Create keystore' }).click();
    await page.getByTestId('keystore-state').getByText('No master key yet').waitFor();
    // The keystore comes with its audit key (it signs the audit checkpoints), shown with its KCV.
    const auditRow = page.getByRole('table', { name: 'Keys' }).locator('tr[data-purpose="audit"]');
    await auditRow.getByText((await desk.ws.keystore.current().auditPublicKey()).kcv).waitFor();

    // Dual control: the second officer approves at the same desk.
    const begin = page.getByRole('form', { name: 'Begin key ceremony' });
    await begin.getByLabel('Number of components').selectOption('2');
    await begin.getByRole('button', { name: 'Begin ceremony' }).click();
    await approve(page, officer2.username, chosen);
    await page.getByTestId('ceremony-progress').getByText('0 of 2').waitFor();

    const componentForm = page.getByRole('form', { name: 'Enter component' });
    const componentField = componentForm.getByLabel('Component', { exact: true });
    for (const field of [
      componentField,
      componentForm.getByLabel('Custodian user name'),
      componentForm.getByLabel('Custodian password'),
    ]) {
      expect(await field.getAttribute('type')).toBe('password');
    }
    // Control: a typed, unsent component does show in the page's HTML, so the scan below can see one.
    await componentField.fill(components[0]!);
    expect(await page.content()).toContain(components[0]);
    // Split knowledge: the officer at the desk may hold component 1 only by typing their credentials, and
    // cannot hold component 2 as well; the second officer types theirs for it.
    const custodians = [
      { username: officer.username, password: officer.password },
      { username: officer2.username, password: chosen },
    ];
    await enterComponent(page, custodians[0]!, components[0]!);
    await page.getByTestId('component-kcv-1').getByText(componentKcv(components[0]!)).waitFor();
    await enterComponent(page, custodians[0]!, components[1]!);
    await componentForm.locator('[data-code=CEREMONY_CUSTODIAN_REPEATED]').waitFor();
    for (const label of ['Custodian user name', 'Custodian password', 'Component']) {
      expect(await componentForm.getByLabel(label, { exact: true }).inputValue()).toBe('');
    }
    await enterComponent(page, custodians[1]!, components[1]!);
    await page.getByTestId('component-kcv-2').getByText(componentKcv(components[1]!)).waitFor();
    await page.getByTestId('ceremony-progress').getByText('2 of 2').waitFor();

    const mkKcv = kcvAes(masterKeyOf(components));
    const finish = page.getByRole('form', { name: 'Finish ceremony' });
    await finish.getByLabel('Expected master key check value (optional)').fill(mkKcv.toLowerCase());
    await finish.getByRole('button', { name: 'Form master key' }).click();
    await page.getByTestId('master-kcv').getByText(mkKcv).waitFor();

    const row = page.getByRole('table', { name: 'Keys' }).locator('tr[data-purpose="master"]');
    await row.waitFor();
    expect(await row.textContent()).toContain(mkKcv);
    expect(await row.textContent()).toContain('formed from components');

    const html = await page.content();
    for (const hex of components) {
      for (const form of [hex, hex.toUpperCase(), hex.slice(0, 16), hex.match(/.{8}/g)!.join(' ')])
        expect(html).not.toContain(form);
    }
    expect(html).not.toContain(passphrase);
    expect(html).not.toContain(chosen);
    expect(html).not.toContain(officer.password);

    const begun = await desk.sql.get<{ operator: string; details: string }>(
      "SELECT operator, details FROM audit_log WHERE action = 'keystore.ceremony.begun' ORDER BY seq",
    );
    expect(begun?.operator).toBe(officer.username);
    expect(JSON.parse(begun?.details ?? '{}')).toMatchObject({ approvedBy: officer2.username });
    const entered = await desk.sql.all<{ details: string }>(
      "SELECT details FROM audit_log WHERE action = 'keystore.ceremony.component_entered' ORDER BY seq",
    );
    expect(entered.map((r) => (JSON.parse(r.details) as { custodian: string }).custodian)).toEqual([
      officer.username,
      officer2.username,
    ]);
  });

  it('backs up the keystore for two custodians and restores it over a changed one with both, never echoing a passphrase', async () => {
    const backupPassphrase = 'the passphrase of this backup';
    const approverBackupPassphrase = 'the second custodian keeps this';
    const page = await deskWithTwoOfficers();

    await page.getByRole('link', { name: 'Keys' }).click();
    await createKeystore(page, passphrase);
    const keyTable = page.getByRole('table', { name: 'Keys' });
    const generateMasterKey = async (version: number) => {
      await page.getByRole('button', { name: 'Generate master key', exact: true }).click();
      await approve(page, officer2.username, chosen);
      await keyTable.locator(`tr[data-purpose="master"][data-version="${version}"]`).waitFor();
    };
    await generateMasterKey(1);
    const backedUpKcv = (await desk.ws.keystore.current().status()).masterKey!.kcv;

    const backups = page.getByRole('region', { name: 'Backups' });
    await backups.getByText('No backups on this desk yet').waitFor();
    const form = backups.getByRole('form', { name: 'Create backup' });
    await form.getByLabel('Your backup passphrase', { exact: true }).fill(backupPassphrase);
    await form.getByLabel('Repeat your backup passphrase').fill(backupPassphrase);
    await form.getByRole('button', { name: 'Create backup…' }).click();
    expect(await form.getByLabel('Your backup passphrase', { exact: true }).inputValue()).toBe('');
    await approveAsCustodian(page, officer2.username, chosen, approverBackupPassphrase);
    await backups.getByTestId('backup-written').waitFor();
    const row = backups.getByRole('table', { name: 'Backup files' }).locator('tbody tr');
    await row.waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toContain(`${officer.username} and ${officer2.username}`);

    // Change the keystore, then bring the backed-up keys back.
    await generateMasterKey(2);
    await row.getByRole('button', { name: 'Restore…' }).click();
    const confirm = page.getByRole('dialog', { name: 'Restore this backup?' });
    await confirm.getByText('This replaces every key on this desk').waitFor();
    await confirm.getByRole('button', { name: 'Replace the keys…' }).click();
    const restore = page.getByRole('dialog', { name: 'Restore backup' });
    const first = restore.getByLabel(`Backup passphrase of ${officer.username}`);
    const second = restore.getByLabel(`Backup passphrase of ${officer2.username}`);
    // One custodian alone: their own passphrase and a guess at the other's.
    await first.fill(backupPassphrase);
    await second.fill('a guess at the other passphrase');
    await second.press('Enter');
    await approve(page, officer2.username, chosen);
    await restore.locator('[data-code=KEYSTORE_WRONG_PASSPHRASE]').waitFor();
    expect(await first.inputValue()).toBe('');
    expect(await second.inputValue()).toBe('');
    expect(await keyTable.locator('tr[data-purpose="master"]').count()).toBe(2);

    await first.fill(backupPassphrase);
    await second.fill(approverBackupPassphrase);
    await second.press('Enter');
    await approve(page, officer2.username, chosen);
    await backups.getByTestId('backup-restored').getByText('restored').waitFor();
    await keyTable.locator('tr[data-purpose="master"][data-version="2"]').waitFor({ state: 'detached' });
    expect(await keyTable.locator('tr[data-purpose="master"]').textContent()).toContain(backedUpKcv);
    await page.getByTestId('keystore-state').getByText(`KCV ${backedUpKcv}`).waitFor();

    expect(await page.content()).not.toContain(backupPassphrase);
    expect(await page.content()).not.toContain(approverBackupPassphrase);
    const restored = await desk.sql.get<{ operator: string; details: string }>(
      "SELECT operator, details FROM audit_log WHERE action = 'keystore.backup.restored' ORDER BY seq",
    );
    expect(restored?.operator).toBe(officer.username);
    expect(JSON.parse(restored?.details ?? '{}')).toMatchObject({ approvedBy: officer2.username });
  });

  it('locks and unlocks; a wrong passphrase is a clear error', async () => {
    const page = await desk.openPage();
    await setupFirstOfficer(page, officer);
    await openPageByAddress(page, 'keys');
    await createKeystore(page, passphrase);
    await page.getByRole('button', { name: 'Lock keystore' }).click();

    const unlock = page.getByRole('form', { name: 'Unlock keystore' });
    // The lock is answered once its entry is in the trail, on either engine (on PostgreSQL the
    // keystore's entries commit after its step: lock waits for them, or a closing desk lost its last).
    await unlock.waitFor();
    expect(await desk.sql.all("SELECT operator FROM audit_log WHERE action = 'keystore.closed' ORDER BY seq")).toEqual([
      { operator: officer.username },
    ]);
    await unlock.getByLabel('Keystore passphrase').fill('not the passphrase at all');
    await unlock.getByLabel('Keystore passphrase').press('Enter');
    await unlock.locator('[data-code=KEYSTORE_WRONG_PASSPHRASE]').waitFor();
    expect(await unlock.getByLabel('Keystore passphrase').inputValue()).toBe('');
    await unlock.getByLabel('Keystore passphrase').fill(passphrase);
    await unlock.getByLabel('Keystore passphrase').press('Enter');
    await page.getByTestId('keystore-state').waitFor();
    // So is the lock of a closing desk (no operator): its entry is in the trail when lock returns.
    await desk.ws.keystore.lock(null);
    expect(
      await desk.sql.all("SELECT operator FROM audit_log WHERE action = 'keystore.closed' ORDER BY seq"),
    ).toHaveLength(2);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDesk, type Desk } from '../support/browser';
import { testEngine } from '../support/test-engine';
import {
  alertText,
  approve,
  createOperator,
  openPageByAddress,
  setupFirstOfficer,
  signIn,
  signInFirstTime,
  signOut,
} from '../support/desk-pages';

const officer = { username: 'sofia', displayName: 'Sofia Officer', password: 'correct horse battery' };
const manager = { username: 'mia', displayName: 'Mia Manager', role: 'manager', password: 'temporary-pass-1' };
const officer2 = {
  username: 'sam',
  displayName: 'Sam Second Officer',
  role: 'security_officer',
  password: 'temporary-pass-4',
};
const clerk = { username: 'carl', displayName: 'Carl Clerk', role: 'clerk', password: 'temporary-pass-2' };
const auditor = { username: 'ada', displayName: 'Ada Auditor', role: 'auditor', password: 'temporary-pass-3' };
const chosen = 'my own long password';

describe('operator administration and the audit page (browser mode, real services)', () => {
  let desk: Desk;
  beforeEach(async () => {
    desk = await openDesk();
  });
  afterEach(async () => {
    await desk.close();
  });

  it('creates operators, forces a password change, unlocks only with a second approver, disables', async () => {
    const admin = await desk.openPage();
    await setupFirstOfficer(admin, officer);
    await openPageByAddress(admin, 'admin');
    for (const o of [manager, officer2, clerk]) await createOperator(admin, o);

    // First sign-ins at another desk window force a new password.
    const other = await desk.openPage();
    for (const o of [manager, officer2]) {
      await signInFirstTime(other, o.username, o.password, chosen);
      await signOut(other);
    }

    // The clerk locks themself out.
    for (let i = 0; i < 5; i++) await signIn(other, clerk.username, `wrong ${i}`);
    // The sign-in screen gives its one answer for every refusal; the account is locked all the same.
    await other.locator('[data-code=AUTH_FAILED]').waitFor();
    const lock = await desk.sql.get<{ locked_until: number | null }>(
      'SELECT locked_until FROM operators WHERE username = ?',
      clerk.username,
    );
    expect(lock?.locked_until).toBeGreaterThan(Date.now());

    await admin.reload();
    const row = admin.locator('tr[data-username="carl"]');
    await row.getByText('locked').waitFor();
    await row.getByRole('button', { name: 'Unlock' }).click();
    // The officer cannot approve their own unlock…
    await approve(admin, officer.username, officer.password);
    expect(await admin.getByRole('dialog').locator('[data-code=APPROVAL_SAME_OPERATOR]').textContent()).toContain(
      'cannot approve your own action',
    );
    // …nor can a manager, who ranks below the officer who asks…
    await approve(admin, manager.username, chosen);
    await admin.getByRole('dialog').locator('[data-code=APPROVAL_ROLE]').waitFor();
    // …a second security officer, at the same desk, can.
    await approve(admin, officer2.username, chosen);
    await row.getByText('must change password').waitFor();

    // Disabling asks first, then ends the clerk's access.
    await row.getByRole('button', { name: 'Disable' }).click();
    await admin.getByRole('dialog', { name: 'Disable carl?' }).getByRole('button', { name: 'Disable' }).click();
    await row.getByText('disabled').waitFor();
    await signIn(other, clerk.username, clerk.password);
    expect(await alertText(other)).toContain('ask a security officer');
    const refusal = await desk.sql.get<{ details: string }>(
      "SELECT details FROM audit_log WHERE action = 'auth.signIn' ORDER BY seq DESC LIMIT 1",
    );
    expect(JSON.parse(refusal?.details ?? '{}')).toMatchObject({ reason: 'disabled' });

    // A new manager needs the second security officer: the dialog asks; sam's old temporary password fails.
    const max = { username: 'max', displayName: 'Max Manager', role: 'manager', password: 'temporary-pass-5' };
    const form = admin.getByRole('form', { name: 'Create operator' });
    await form.getByLabel('User name').fill(max.username);
    await form.getByLabel('Full name').fill(max.displayName);
    await form.getByLabel('Role').selectOption(max.role);
    await form.getByLabel('Temporary password').fill(max.password);
    await form.getByRole('button', { name: 'Create operator' }).click();
    await approve(admin, officer2.username, officer2.password);
    await admin.getByRole('dialog').locator('[data-code=APPROVAL_FAILED]').waitFor();
    await approve(admin, officer2.username, chosen);
    await admin.locator('tr[data-username="max"]').waitFor();
    const created = await desk.sql.get<{ details: string }>(
      "SELECT details FROM audit_log WHERE action = 'admin.createOperator' ORDER BY seq DESC",
    );
    expect(JSON.parse(created?.details ?? '{}')).toMatchObject({ role: 'manager', approvedBy: 'sam' });

    // Promoting max to security officer asks for the second officer too.
    const maxRow = admin.locator('tr[data-username="max"]');
    await maxRow.getByLabel('Role of max').selectOption('security_officer');
    await approve(admin, officer2.username, chosen);
    await admin.getByRole('dialog', { name: 'Second approver' }).waitFor({ state: 'hidden' });
    await expect
      .poll(() => desk.sql.get("SELECT role FROM operators WHERE username = 'max'"))
      .toEqual({
        role: 'security_officer',
      });

    const unlocked = await desk.sql.all<{ operator: string; details: string }>(
      "SELECT operator, outcome, details FROM audit_log WHERE action = 'admin.unlockOperator' AND outcome = 'ok'",
    );
    expect(unlocked).toHaveLength(1);
    expect(unlocked[0]!.operator).toBe('sofia');
    expect(unlocked[0]!.details).toContain('sam');
  });

  it('lets an auditor filter the trail, verify it, and see where it was tampered with', async () => {
    const admin = await desk.openPage();
    await setupFirstOfficer(admin, officer);
    await openPageByAddress(admin, 'admin');
    await createOperator(admin, auditor);
    await signOut(admin);

    const page = await desk.openPage();
    await signInFirstTime(page, auditor.username, auditor.password, chosen);
    await page.getByRole('link', { name: 'Audit' }).click();
    const entries = page.getByRole('table', { name: 'Audit entries' });
    await entries.waitFor();

    const filter = page.getByRole('form', { name: 'Filter audit entries' });
    await filter.getByLabel('Action starts with').fill('admin.');
    await filter.getByLabel('Action starts with').press('Enter');
    await entries.locator('tbody tr').first().getByText('admin.createOperator').waitFor();
    expect(await entries.locator('tbody tr').count()).toBe(1);

    await page.getByRole('button', { name: 'Verify chain' }).click();
    expect(await page.getByTestId('verify-result').textContent()).toContain('Chain intact');
    // No keystore is unlocked at this desk: the page says the signatures were not checked, and what to do.
    await page.getByTestId('verify-notice').getByText('unlocks the keystore on the Keys page').waitFor();

    // Someone with access to the database edits entry 2 behind the application's back.
    await desk.sql.run(`DROP TRIGGER audit_log_no_update${testEngine === 'postgres' ? ' ON audit_log' : ''}`);
    await desk.sql.run("UPDATE audit_log SET operator = 'nobody' WHERE seq = 2");
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByTestId('verify-result').getByText('Broken at entry #2').waitFor();
  });
});

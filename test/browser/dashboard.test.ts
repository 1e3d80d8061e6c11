import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDesk, type Desk } from '../support/browser';
import { signIn, signOut } from '../support/desk-pages';
import { addOperator, setupOfficer, type TestOperator } from '../support/operators';

// The dashboard shows audit figures and recent activity only to roles that may read the audit
// trail; a clerk sees the rest of the page, without an empty or broken audit section.
describe('dashboard by role (browser mode, real services)', () => {
  let desk: Desk;
  let officer: TestOperator;
  let clerk: TestOperator;
  beforeAll(async () => {
    desk = await openDesk();
    officer = await setupOfficer(desk.ws);
    clerk = await addOperator(desk.ws, 'clerk');
  });
  afterAll(async () => {
    await desk.close();
  });

  it('shows a clerk the operator figures and readers, and no audit figures or recent activity', async () => {
    const page = await desk.openPage();
    await signIn(page, clerk.username, clerk.password);
    const dashboard = page.getByRole('region', { name: 'Dashboard' });
    await dashboard.getByText('Active operators').waitFor();
    expect(await dashboard.getByText('Audit entries today').count()).toBe(0);
    expect(await dashboard.getByText('Failed sign-ins today').count()).toBe(0);
    expect(await dashboard.getByRole('heading', { name: 'Recent activity' }).count()).toBe(0);
    expect(await dashboard.getByRole('heading', { name: 'Readers' }).count()).toBe(1);
    expect(await page.locator('.banner-error[role=alert]').count()).toBe(0);

    await signOut(page);
    await signIn(page, officer.username, officer.password);
    await dashboard.getByText('Audit entries today').waitFor();
    await page.getByRole('table', { name: 'Recent activity' }).getByText('auth.signIn').first().waitFor();
  });
});

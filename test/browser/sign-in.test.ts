import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { alertText, openPageByAddress, setupFirstOfficer, signIn, signOut } from '../support/desk-pages';

const officer = { username: 'sofia', displayName: 'Sofia Officer', password: 'correct horse battery' };

describe('operators at the desk (browser mode, real services)', () => {
  let desk: Desk;
  beforeEach(async () => {
    desk = await openDesk();
  });
  afterEach(async () => {
    await desk.close();
  });

  it('creates the first security officer, signs in, is refused a page by main, signs out', async () => {
    const page = await desk.openPage();
    await setupFirstOfficer(page, officer);
    await signOut(page);

    await signIn(page, officer.username, officer.password);
    const dashboard = page.getByRole('region', { name: 'Dashboard' });
    await dashboard.waitFor();
    expect(await page.getByTestId('operator').textContent()).toBe('Sofia Officer');
    expect(await seriousA11yViolations(page)).toEqual([]);
    // The live event path: the status bar shows the reader service's state pushed from main.
    await page.getByTestId('reader-status').filter({ hasNotText: 'waiting for the reader service' }).waitFor();

    // Enrolment is a clerk's page. The nav does not offer it; typing its address asks main, which refuses.
    expect(await page.getByRole('navigation').getByText('Enroll').count()).toBe(0);
    await openPageByAddress(page, 'enroll');
    expect(await alertText(page)).toContain('Your role may not open enroll');
    const denied = await desk.sql.all(
      "SELECT operator, object, outcome FROM audit_log WHERE action = 'access.denied' ORDER BY seq",
    );
    expect(denied).toEqual([{ operator: 'sofia', object: 'page:enroll', outcome: 'denied' }]);

    await signOut(page);
    const after = await desk.ws.router.dispatch('nobody', 'auth:status', {});
    expect(after).toMatchObject({ ok: true, value: { firstRun: false } });
    const trail = await desk.sql.all<{ action: string }>('SELECT action FROM audit_log ORDER BY seq');
    expect(trail.map((r) => r.action)).toEqual([
      'auth.setupFirstOfficer',
      'auth.signOut',
      'auth.signIn',
      'access.denied',
      'auth.signOut',
    ]);
  });

  it('locks an operator out after repeated wrong passwords', async () => {
    const page = await desk.openPage();
    await setupFirstOfficer(page, officer);
    await signOut(page);
    // Every refusal gets the same answer, which neither counts down nor says "locked".
    const answers: string[] = [];
    for (let i = 1; i <= 5; i++) {
      await signIn(page, officer.username, `wrong password ${i}`);
      answers.push(await page.locator('[data-code=AUTH_FAILED]').innerText());
    }
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]).toContain('try again in a few minutes');
    expect(answers[0]).not.toMatch(/attempt|\d/);
    // Even the right password no longer opens the account, and the screen says nothing new.
    await signIn(page, officer.username, officer.password);
    expect(await page.locator('[data-code=AUTH_FAILED]').innerText()).toBe(answers[0]);
    expect(await page.getByRole('region', { name: 'Dashboard' }).count()).toBe(0);
    const row = await desk.sql.get<{ failed_attempts: number; locked_until: number | null }>(
      'SELECT failed_attempts, locked_until FROM operators WHERE username = ?',
      'sofia',
    );
    expect(row?.failed_attempts).toBe(5);
    expect(row?.locked_until).toBeGreaterThan(Date.now());
  });
});

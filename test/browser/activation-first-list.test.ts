import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { newBlankCard } from '../../src/card-sim/card-record';
import { VirtualCard } from '../../src/card-sim/virtual-card';
import { TRAINING_READER_NAME, TrainingReaderService } from '../../src/core/card/training-reader';
import { personaliseAwaiting, type AwaitingCard } from '../support/activation-cards';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { openPageByAddress, signIn } from '../support/desk-pages';
import { keystoreReadyToEnroll } from '../support/enrollment';
import { addOperator, setupOfficer, value, type TestOperator } from '../support/operators';

// The first list follows activation at once; when it cannot go (here: no issuer signing key yet,
// so nothing can be sealed), the card page says the card is active, what stopped the list and that
// it waits for the card's next presentation — and Push list then sends it.

const PIN = '1357';

describe('a first list that cannot follow activation (browser mode, training reader)', () => {
  let desk: Desk;
  let page: Page;
  let clerk: TestOperator;
  let officer: TestOperator;
  let awaiting: AwaitingCard;

  beforeAll(async () => {
    desk = await openDesk({ readers: 'training' });
    officer = await setupOfficer(desk.ws);
    await keystoreReadyToEnroll(desk.ws, officer, await addOperator(desk.ws, 'security_officer'));
    const reader = desk.ws.readers;
    if (!(reader instanceof TrainingReaderService)) throw new Error('training reader expected');
    reader.insert(new VirtualCard(newBlankCard()));
    awaiting = await personaliseAwaiting(desk.ws, TRAINING_READER_NAME);
    clerk = await addOperator(desk.ws, 'clerk');
    page = await desk.openPage();
  });
  afterAll(async () => {
    await desk?.close();
  });

  it('shows the card active, why the list did not go and what to do; Push list sends it later', async () => {
    await signIn(page, clerk.username, clerk.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, 'cards');
    const form = page.getByRole('form', { name: 'Activate card' });
    await form.getByLabel('Activation key from the mailer').fill(awaiting.mailerKey);
    await form.getByLabel('New PIN', { exact: true }).fill(PIN);
    await form.getByLabel('Repeat PIN').fill(PIN);
    await form.getByRole('button', { name: 'Activate' }).click();
    const failed = page.getByTestId('activation-follow-up-failed');
    await failed.waitFor({ timeout: 15_000 });
    const text = (await failed.textContent()) ?? '';
    expect(text).toContain('The card is active');
    expect(text).toContain('no issuer signing key');
    expect(text).toContain('present it again and choose Push list');
    await page.locator('[data-testid=card-state]', { hasText: /^active$/ }).waitFor();
    // The list is queued, not lost.
    expect(await desk.sql.all('SELECT seq, state FROM code_lists ORDER BY seq')).toEqual([
      { seq: 1, state: 'prepared' },
    ]);
    expect(await seriousA11yViolations(page)).toEqual([]);

    // Once the officer has made the key, the card's next presentation sends the waiting list.
    value(await desk.ws.router.dispatch(officer.client, 'keys:createIssuerKey', { commonName: 'Test Issuer' }));
    await page.getByRole('region', { name: 'Code list' }).getByRole('button', { name: 'Push list' }).click();
    await page.getByRole('status').getByText('List 1 is active on the card').waitFor({ timeout: 15_000 });
    expect(await desk.sql.all('SELECT seq, state FROM code_lists ORDER BY seq')).toEqual([{ seq: 1, state: 'active' }]);
  });
});

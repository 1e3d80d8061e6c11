import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { CardReaderService } from '../../src/core/card/reader.types';
import { personaliseAwaiting, prepareKeystore, withTypo, type AwaitingCard } from '../support/activation-cards';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { alertText, openPageByAddress, signIn } from '../support/desk-pages';
import { publicKeyOnCard } from '../support/list-envelopes';
import { addOperator, setupOfficer, type TestOperator } from '../support/operators';
import { createTestCard, readCard, type TestCard } from '../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../support/testbed';

// Activation from the card page in Chromium over the real stack: the card in pcscd via vpcd, the
// page showing whose card it is, K typed from the mailer (a typo first, caught before the card is
// touched), the card active afterwards; then a manager switches it to public-key mode, confirming
// first (docs/push.md). Every view passes axe.

const PIN = '5820';

describe('activation from the card page (browser mode, real pcscd)', () => {
  let bed: Testbed;
  let desk: Desk;
  let page: Page;
  let clerk: TestOperator;
  let card: TestCard;
  let awaiting: AwaitingCard;

  beforeAll(async () => {
    bed = await useTestbed('activation-browser');
    desk = await openDesk({ readers: 'pcsc' });
    const officer = await setupOfficer(desk.ws);
    await prepareKeystore(desk.ws, officer, await addOperator(desk.ws, 'security_officer'));
    clerk = await addOperator(desk.ws, 'clerk');
    const readers = desk.ws.readers as CardReaderService;
    await eventually(() => readers.snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    card = createTestCard(bed.cardDir);
    await bed.insert(card.file, 0);
    await eventually(
      () => readers.snapshot().readers.some((r) => r.name === bed.readerName(0) && r.condition === 'ready'),
      'card ready',
    );
    awaiting = await personaliseAwaiting(desk.ws, bed.readerName(0), { customerName: 'Grace Hopper' });
    page = await desk.openPage();
  });

  afterAll(async () => {
    await desk?.close();
    await bed?.close();
  });

  it('shows the card in the reader: whose it is, its state and the next action; passes axe', async () => {
    await signIn(page, clerk.username, clerk.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, 'cards');
    const region = page.getByRole('region', { name: 'Card in the reader' });
    await region.getByTestId('card-customer').getByText('Grace Hopper').waitFor();
    expect(await region.getByTestId('card-state').textContent()).toContain('awaiting activation');
    expect(await region.getByTestId('activation-tries').textContent()).toBe('5');
    await region.getByRole('form', { name: 'Activate card' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
  });

  it('a typo is named by its group and costs no try; the fields are cleared and K is never shown back', async () => {
    const form = page.getByRole('form', { name: 'Activate card' });
    const keyField = form.getByLabel('Activation key from the mailer');
    expect(await keyField.getAttribute('autocomplete')).toBe('off');
    expect(await keyField.getAttribute('type')).toBe('password');
    await keyField.fill(withTypo(awaiting.mailerKey));
    await form.getByLabel('New PIN', { exact: true }).fill(PIN);
    await form.getByLabel('Repeat PIN').fill(PIN);
    await form.getByLabel('Repeat PIN').press('Enter');
    expect(await alertText(page)).toMatch(/Group 3/);
    expect(await keyField.inputValue()).toBe('');
    expect(await form.getByLabel('New PIN', { exact: true }).inputValue()).toBe('');
    expect(readCard(card).activationTriesLeft).toBe(5);
    expect(await page.getByTestId('activation-tries').textContent()).toBe('5');
    expect(await seriousA11yViolations(page)).toEqual([]);
  });

  it('activates with K typed from the mailer; the page then shows the card active', async () => {
    const form = page.getByRole('form', { name: 'Activate card' });
    // Typed as a cardholder types: key by key.
    await form.getByLabel('Activation key from the mailer').pressSequentially(awaiting.mailerKey);
    await form.getByLabel('New PIN', { exact: true }).fill(PIN);
    await form.getByLabel('Repeat PIN').fill(PIN);
    // Every step the first push shows, as the page shows it (it may be on screen for milliseconds).
    // With it, the steps the page lists as passed (React may draw several quick steps as one).
    await page.evaluate(`(() => {
      const seen = (window.pushSteps = []);
      const passed = (window.pushPassed = []);
      new MutationObserver(() => {
        const text = document.querySelector('[data-testid=push-progress]')?.textContent;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
        const items = [...document.querySelectorAll('[data-testid=push-steps-done] li')].map((li) => li.textContent);
        if (items.length > passed.length) passed.splice(0, passed.length, ...items);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    await form.getByRole('button', { name: 'Activate' }).click();
    await page
      .locator('[data-testid=card-state]', { hasText: /^active$/ })
      .waitFor({ timeout: 10_000 })
      .catch(async (e: unknown) => {
        throw new Error(`card page did not show the card active: ${await page.locator('main').innerText()}`, {
          cause: e,
        });
      });
    expect(readCard(card)).toMatchObject({ lifeCycle: 'active', pin: PIN });
    // The first list followed in the same call, with the push's own progress, and its outcome stays on show.
    expect(await page.getByTestId('activation-outcome').textContent()).toContain('first list: List 1 is on the card.');
    const steps = await page.evaluate<string[]>('window.pushSteps');
    const passed = await page.evaluate<string[]>('window.pushPassed');
    // The list on its way to the card shows, as the step on screen or, when the card was quicker than
    // the page drew (the full suite once saw only "Reading the card | Done"), among the steps passed,
    // in the order the push made them.
    expect(passed, steps.join(' | ')).toEqual([
      'Reading the card ✓',
      'Sealing the list in the keystore ✓',
      'Sending the list ✓',
      'The card is committing the list ✓',
      'Checking the card’s receipt ✓',
    ]);
    expect(steps.at(-1)).toBe('Done');
    expect(readCard(card)).toMatchObject({ list: { listSeq: 1 } });
    const row = await desk.sql.get<{ state: string }>('SELECT state FROM cards WHERE id = ?', awaiting.record.id);
    expect(row?.state).toBe('active');
    const html = await page.content();
    expect(html).not.toContain(awaiting.mailerKey);
    expect(html).not.toContain(awaiting.mailerKey.replace(/-/g, ''));
    expect(await seriousA11yViolations(page)).toEqual([]);
  });

  it('a manager switches the active card to public-key mode after a confirmation; the key kept is the card’s', async () => {
    const manager = await addOperator(desk.ws, 'manager');
    const mpage = await desk.openPage();
    await signIn(mpage, manager.username, manager.password);
    await mpage.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(mpage, 'cards');
    const region = mpage.getByRole('region', { name: 'How lists are sealed' });
    await region.waitFor();
    expect(await mpage.getByTestId('card-seal-mode').textContent()).toBe('the card key K');
    // The clerk's page offers no such step: it is a manager's.
    expect(await page.getByRole('region', { name: 'How lists are sealed' }).count()).toBe(0);
    await region.getByRole('button', { name: 'Use public-key mode' }).click();
    const dialog = mpage.getByRole('dialog', { name: 'Have the card make a key pair?' });
    await dialog.waitFor();
    expect(await seriousA11yViolations(mpage)).toEqual([]);
    expect(readCard(card).rsa).toBeUndefined(); // nothing happens before the confirmation
    await dialog.getByRole('button', { name: 'Make key pair' }).click();
    await region
      .getByRole('status')
      .getByText(/Public-key mode: the card proved its key/)
      .waitFor({ timeout: 15_000 });
    await mpage.getByTestId('card-seal-mode').getByText('public-key mode').waitFor();
    const onCard = publicKeyOnCard(readCard(card).rsa);
    expect(onCard).not.toBeNull();
    const row = await desk.sql.get('SELECT seal_mode, public_key FROM cards WHERE id = ?', awaiting.record.id);
    expect(row).toEqual({ seal_mode: 'public-key', public_key: onCard });
    await region.getByRole('button', { name: 'Use card-key mode' }).waitFor();
    expect(await seriousA11yViolations(mpage)).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openDesk, type Desk } from '../support/browser';
import { setupFirstOfficer } from '../support/desk-pages';
import { createActiveCard, createTestCard } from '../support/test-cards';
import { useTestbed, type Testbed } from '../support/testbed';

// The dashboard's reader panel and the status bar follow the real PC/SC stack live:
// pcscd + vpcd readers, virtual card processes inserted and pulled, pcscd killed and back.

function readerRow(page: Page, reader: string) {
  return page.getByRole('table', { name: 'Readers' }).locator('tr', { hasText: reader });
}

describe('reader panel (browser mode, real pcscd)', () => {
  let bed: Testbed;
  let desk: Desk;
  let page: Page;
  beforeAll(async () => {
    bed = await useTestbed('reader-panel');
    desk = await openDesk({ readers: 'pcsc' });
    page = await desk.openPage();
    await setupFirstOfficer(page, {
      username: 'sofia',
      displayName: 'Sofia Officer',
      password: 'correct horse battery',
    });
  });
  afterAll(async () => {
    await desk.close();
    await bed.close();
  });

  it('shows cards arriving and leaving, with their id and life-cycle state', async () => {
    const first = bed.readerName(0);
    const second = bed.readerName(1);
    await readerRow(page, first).waitFor();
    expect(await readerRow(page, first).textContent()).not.toContain('present');

    const blank = createTestCard(bed.cardDir);
    await bed.insert(blank.file, 0);
    // Exact cells: the ATR column also holds the card id, before the card is even read.
    await readerRow(page, first).getByRole('cell', { name: blank.cardId, exact: true }).waitFor();
    await readerRow(page, first).getByRole('cell', { name: 'blank', exact: true }).waitFor();

    const active = createActiveCard(bed.cardDir);
    await bed.insert(active.file, 1);
    await readerRow(page, second).getByRole('cell', { name: active.cardId, exact: true }).waitFor();
    await readerRow(page, second).getByRole('cell', { name: 'active', exact: true }).waitFor();
    expect(await readerRow(page, second).getByRole('cell', { name: '4711000000000004', exact: true }).count()).toBe(1);
    await page.getByTestId('reader-status').getByText('2 readers, 2 cards present').waitFor();

    await bed.remove(0);
    await page.getByTestId('reader-status').getByText('2 readers, 1 card present').waitFor();
    expect(await readerRow(page, first).textContent()).not.toContain(blank.cardId);
  });

  it('tells the operator while pcscd is gone and recovers by itself when it is back', async () => {
    await bed.killPcscd();
    await page.getByTestId('reader-status').getByText('Reader service restarting').waitFor();
    await bed.ensureUp();
    await page
      .getByTestId('reader-status')
      .getByText(/2 readers/)
      .waitFor({ timeout: 10_000 });
  });
});

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { openPageByAddress, signIn } from '../support/desk-pages';
import { addOperator, setupOfficer, type TestOperator } from '../support/operators';
import { seedDeskUsage } from '../support/usage-seed';

// An auditor reviews usage on a seeded database of 3,000 cards: the charts draw their series, the
// range, branch and reason filters and the column sort narrow and order the table as the database
// says, all of it survives a reload through the address, the virtual table loads far pages as it
// scrolls, and the CSV export matches the database row by row. No serious axe violation.

const FROM = '2026-11-01';
const TO = '2026-11-20';
const END = '2026-11-21T00:00:00.000Z';

/** The usage of each card as the database holds it, computed here with plain SQL of its own. */
async function cardsFromDb(desk: Desk, branch: string) {
  return desk.sql.all<{
    card_id: string;
    n: string;
    state: string;
    full_name: string;
    customer_ref: string;
    branch: string;
    issued: number;
    used: number;
    remaining: number;
    due: number;
    uses: number;
    refusals: number;
    suspicions: number;
    open: number;
    drift: number | null;
  }>(
    `SELECT c.card_id, c.n, c.state, cu.full_name, cu.customer_ref, cu.branch,
         (SELECT CAST(COALESCE(SUM(length), 0) AS BIGINT) FROM code_lists WHERE card_ref = c.id AND state <> 'prepared') AS issued,
         (SELECT CAST(COALESCE(SUM(used_count), 0) AS BIGINT) FROM code_lists WHERE card_ref = c.id AND state <> 'prepared') AS used,
         (SELECT CAST(COALESCE(SUM(length - used_count), 0) AS BIGINT) FROM code_lists WHERE card_ref = c.id AND state = 'active') AS remaining,
         (SELECT count(*) FROM code_lists WHERE card_ref = c.id AND state = 'active' AND refill_due = 1) AS due,
         (SELECT count(*) FROM code_uses JOIN code_lists l ON l.id = list_ref WHERE l.card_ref = c.id AND used_at >= ? AND used_at < ?) AS uses,
         (SELECT count(*) FROM verify_rejections WHERE card_ref = c.id AND at >= ? AND at < ?) AS refusals,
         (SELECT count(*) FROM suspicion_events WHERE card_ref = c.id AND occurred_at >= ? AND occurred_at < ?) AS suspicions,
         (SELECT count(*) FROM suspicion_events WHERE card_ref = c.id AND occurred_at >= ? AND occurred_at < ? AND resolved_at IS NULL) AS open,
         (SELECT drift FROM suspicion_events WHERE card_ref = c.id AND kind = 'counter_drift' ORDER BY occurred_at DESC LIMIT 1) AS drift
       FROM cards c JOIN customers cu ON cu.id = c.customer_id WHERE cu.branch = ? ORDER BY c.card_id`,
    ...Array.from({ length: 4 }, () => [`${FROM}T00:00:00.000Z`, END]).flat(),
    branch,
  );
}

describe('usage review (browser mode, seeded database)', () => {
  let desk: Desk;
  let auditor: TestOperator;
  beforeAll(async () => {
    desk = await openDesk();
    await setupOfficer(desk.ws);
    auditor = await addOperator(desk.ws, 'auditor');
    await seedDeskUsage(desk.sql, { cards: 3000, firstDay: FROM, days: 30 });
  });
  afterAll(async () => {
    await desk.close();
  });

  it('charts, filters, sorting, the address, far pages and the CSV export', async () => {
    const page = await desk.openPage();
    await signIn(page, auditor.username, auditor.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, `usage?from=${FROM}&to=${TO}`);
    const usage = page.getByRole('region', { name: 'Usage' });
    await usage.getByTestId('usage-total').getByText('3000 cards').waitFor();

    // Charts: SVG with the series the data has: uses, and each refusal reason seeded in the range.
    const uses = usage.getByTestId('uses-chart');
    await uses.locator('svg.recharts-surface').first().waitFor();
    const legend = await uses.locator('.recharts-legend-item-text').allTextContents();
    expect(legend).toEqual(expect.arrayContaining(['Uses', 'Unknown N', 'Wrong code', 'Already used']));
    expect(await uses.locator('.recharts-bar-rectangle').count()).toBeGreaterThan(20);
    const branchChart = usage.getByTestId('branch-chart');
    expect(await branchChart.locator('.recharts-legend-item-text').allTextContents()).toEqual([
      'Codes remaining',
      'Refills due',
    ]);
    expect(await branchChart.locator('.recharts-bar-rectangle').count()).toBe(6); // 3 branches × 2 series
    const usesInDb = (
      await desk.sql.get<{ n: number }>(
        'SELECT count(*) AS n FROM code_uses WHERE used_at >= ? AND used_at < ?',
        `${FROM}T00:00:00.000Z`,
        END,
      )
    )?.n;
    expect(await usage.getByTestId('tile-Uses in range').locator('dd').textContent()).toBe(String(usesInDb));
    expect(await seriousA11yViolations(page)).toEqual([]);

    // The virtual table loads far pages on demand: the last card appears when scrolled to the end.
    const scroller = usage.getByRole('region', { name: /Usage table/ });
    await scroller.evaluate((el: { scrollTo(x: number, y: number): void; scrollHeight: number }) =>
      el.scrollTo(0, el.scrollHeight),
    );
    await usage.locator('tr[data-key="SEED00002999"]').waitFor();
    expect(await usage.locator('tbody tr[data-key]').count()).toBeLessThan(120); // only the rows in view are drawn

    // Filters: branch and reason, applied through the form into the address.
    const filters = page.getByRole('form', { name: 'Usage filters' });
    await filters.getByLabel('Branch').selectOption('Bern');
    await filters.getByLabel('Refusal reason').selectOption('wrong_code');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/branch=Bern/);
    expect(page.url()).toContain('reason=wrong_code');
    const wrongCodeCards = new Set(
      (
        await desk.sql.all<{ card_id: string }>(
          "SELECT DISTINCT c.card_id FROM verify_rejections r JOIN cards c ON c.id = r.card_ref WHERE reason = 'wrong_code' AND at >= ? AND at < ? ORDER BY c.card_id",
          `${FROM}T00:00:00.000Z`,
          END,
        )
      ).map((r) => r.card_id),
    );
    const bernWrong = (await cardsFromDb(desk, 'Bern')).filter((c) => wrongCodeCards.has(c.card_id));
    expect(bernWrong.length).toBeGreaterThan(5);
    await usage.getByTestId('usage-total').getByText(`${bernWrong.length} cards`).waitFor();
    // Only wrong-code refusals are charted now.
    await uses.locator('.recharts-legend-item-text', { hasText: 'Already used' }).waitFor({ state: 'detached' });
    expect(await uses.locator('.recharts-legend-item-text').allTextContents()).toEqual(['Uses', 'Wrong code']);

    // Sorting by uses in range, most first: the order the database gives.
    await usage.getByRole('button', { name: 'Uses in range' }).click();
    await page.waitForURL(/sort=usesInRange/);
    const want = [...bernWrong]
      .sort((a, b) => b.uses - a.uses || (a.card_id < b.card_id ? 1 : -1))
      .map((c) => c.card_id);
    // The data-key of each row drawn, top to bottom (structural types: the tests have no DOM library).
    const shown = async () =>
      usage
        .locator('tbody tr[data-key]')
        .evaluateAll((rows: { getAttribute(name: string): string | null }[]) =>
          rows.map((r) => r.getAttribute('data-key')),
        );
    // The rows drawn (those in view) are the first of the database's order.
    const inOrder = async () => {
      const rows = await shown();
      return rows.length > 5 && rows.every((k, i) => k === want[i]);
    };
    await expect.poll(inOrder).toBe(true);
    expect(await usage.getByRole('columnheader', { name: /Uses in range/ }).getAttribute('aria-sort')).toBe(
      'descending',
    );
    expect(await seriousA11yViolations(page)).toEqual([]);

    // A reload keeps everything: the address carries it.
    await page.reload();
    await usage.getByTestId('usage-total').getByText(`${bernWrong.length} cards`).waitFor();
    expect(await filters.getByLabel('Branch').inputValue()).toBe('Bern');
    expect(await filters.getByLabel('Refusal reason').inputValue()).toBe('wrong_code');
    expect(await filters.getByLabel('From').inputValue()).toBe(FROM);
    expect(await filters.getByLabel('To', { exact: true }).inputValue()).toBe(TO);
    await expect.poll(inOrder).toBe(true);

    // The export, with the filters applied, against the database row by row.
    await filters.getByLabel('Refusal reason').selectOption('');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL((u) => !u.href.includes('reason='));
    const [download] = await Promise.all([page.waitForEvent('download'), usage.getByTestId('usage-export').click()]);
    expect(download.suggestedFilename()).toMatch(/^otac-usage-by-card-.*\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8')
      .trimEnd()
      .split('\r\n');
    const rows = await cardsFromDb(desk, 'Bern');
    expect(csv[0]).toBe(
      'key,card_id,n,card_state,customer,customer_ref,branch,cards,issued,used,remaining,refills_due,uses_in_range,rejections,suspicions,open_suspicions,drift',
    );
    expect(csv.length - 1).toBe(rows.length);
    rows.forEach((r, i) => {
      expect(csv[i + 1]).toBe(
        [
          r.card_id,
          r.card_id,
          r.n,
          r.state,
          r.full_name,
          r.customer_ref,
          r.branch,
          1,
          r.issued,
          r.used,
          r.remaining,
          r.due,
          r.uses,
          r.refusals,
          r.suspicions,
          r.open,
          r.drift ?? '',
        ].join(','),
      );
    });
  });

  it('shows an empty state when nothing matches, and refuses the export to a clerk', async () => {
    const clerk = await addOperator(desk.ws, 'clerk');
    const page = await desk.openPage();
    await signIn(page, auditor.username, auditor.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, 'usage?from=2026-11-01&to=2026-11-30&q=nobody-here');
    await page.getByTestId('usage-empty').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    const clerkPage = await desk.openPage();
    await signIn(clerkPage, clerk.username, clerk.password);
    await clerkPage.getByRole('region', { name: 'Dashboard' }).waitFor();
    const answer = await clerkPage.evaluate(async () => {
      const r = await fetch('/export/usage.csv?branch=Bern');
      return { status: r.status, body: await r.text() };
    });
    expect(answer.status).toBe(403);
    expect(answer.body).not.toContain('SEED');
  });
});

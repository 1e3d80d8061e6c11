import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinPackage } from '../../src/core/push/sms-package';
import { awaitingTrainingCard, type AwaitingCard } from '../support/activation-cards';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { openPageByAddress, signIn } from '../support/desk-pages';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../support/operators';

// Support sends a card's queued list by text message from the customer page: a confirmation, then
// the messages to copy or download, the list recorded as sent. The messages are a complete package.

describe('sending a list by text message from the customer page (browser mode)', () => {
  let desk: Desk;
  let support: TestOperator;
  let awaiting: AwaitingCard;

  beforeAll(async () => {
    desk = await openDesk({ readers: 'training' });
    const officer = await setupOfficer(desk.ws);
    const { reader, awaiting: card } = await awaitingTrainingCard(
      desk.ws,
      officer,
      await addOperator(desk.ws, 'security_officer'),
    );
    awaiting = card;
    const clerk = await addOperator(desk.ws, 'clerk');
    const activate = { reader, key: awaiting.mailerKey, pin: '2468', pinRepeat: '2468' };
    value(await desk.ws.router.dispatch(clerk.client, 'activation:activate', activate));
    support = await addOperator(desk.ws, 'support');
    value(await desk.ws.router.dispatch(support.client, 'lists:requestRefill', { n: awaiting.record.n }));
  });
  afterAll(async () => {
    await desk?.close();
  });

  it('shows the messages after a confirmation, records the list as sent, and passes axe', async () => {
    const page = await desk.openPage();
    await signIn(page, support.username, support.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, `customers/${awaiting.record.customerId}`);
    const panel = page.getByRole('region', { name: 'Send a list by text message' });
    await panel.getByRole('button', { name: `Send list for ${awaiting.record.n} by text message` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Send the list by text message?' }).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Send list' }).click();
    await panel.getByTestId('sms-package').waitFor();
    const messages = await panel.getByLabel('Text messages, one per line').inputValue();
    const lines = messages.split('\n');
    expect(lines.length).toBeGreaterThan(1);
    expect(joinPackage(lines).length).toBeGreaterThan(0);
    expect(await panel.getByRole('status').textContent()).toContain('List 2 of card');
    const link = panel.getByRole('link', { name: 'Download as a text file' });
    expect(await link.getAttribute('download')).toMatch(/^otac-package-[0-9A-Z]{6}\.txt$/);
    const row = await desk.sql.get<{ state: string }>(
      'SELECT state FROM code_lists WHERE card_ref = ? AND seq = 2',
      awaiting.record.id,
    );
    expect(row?.state).toBe('staged');
    expect((await auditRows(desk.ws)).filter((r) => r.action === 'lists.sent_by_sms')).toHaveLength(1);
    // The customer's history shows it, so the desk knows the list is in flight.
    await page
      .getByRole('table', { name: 'History of this customer' })
      .getByText('lists.sent_by_sms')
      .first()
      .waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
  });
});

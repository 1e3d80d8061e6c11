import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { newBlankCard } from '../../src/card-sim/card-record';
import { VirtualCard } from '../../src/card-sim/virtual-card';
import { OtacCard } from '../../src/core/card/protocol/card-session';
import { TRAINING_READER_NAME, TrainingReaderService } from '../../src/core/card/training-reader';
import { personaliseAwaiting, prepareKeystore, withRetry, type AwaitingCard } from '../support/activation-cards';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { openPageByAddress, signIn } from '../support/desk-pages';
import { addOperator, setupOfficer, value, type TestOperator } from '../support/operators';

// Clone detection on the card page (issue 10 item 3, source 003 FIG. 7): a copy of the card was used
// at the bank; when the genuine card is in the reader the page compares its authenticated counters
// with the server's at once and shows "Probable clone" with the drift; the manager disables the table
// after a confirmation, and the copy's codes are refused from then on.

const PIN = '1357';

describe('clone detection on the card page (browser mode, training reader)', () => {
  let desk: Desk;
  let page: Page;
  let manager: TestOperator;
  let awaiting: AwaitingCard;
  let training: TrainingReaderService;
  let genuine: VirtualCard;
  let copy: VirtualCard;

  /** The next code of whichever card is in the training reader, as the cardholder reads it. */
  const nextCode = () =>
    withRetry(() =>
      training.withCard(TRAINING_READER_NAME, async (t) => {
        const card = new OtacCard(t);
        await card.select();
        await card.verifyPin(PIN);
        return card.nextCode();
      }),
    );

  beforeAll(async () => {
    desk = await openDesk({ readers: 'training' });
    const officer = await setupOfficer(desk.ws);
    await prepareKeystore(desk.ws, officer, await addOperator(desk.ws, 'security_officer'));
    const reader = desk.ws.readers;
    if (!(reader instanceof TrainingReaderService)) throw new Error('training reader expected');
    training = reader;
    genuine = new VirtualCard(newBlankCard());
    training.insert(genuine);
    awaiting = await personaliseAwaiting(desk.ws, TRAINING_READER_NAME);
    const clerk = await addOperator(desk.ws, 'clerk');
    value(
      await desk.ws.router.dispatch(clerk.client, 'activation:activate', {
        reader: TRAINING_READER_NAME,
        key: awaiting.mailerKey,
        pin: PIN,
        pinRepeat: PIN,
      }),
    );
    // The copy (FIG. 5): the card's whole state, used at the bank for two codes the genuine card never gave out.
    copy = new VirtualCard(structuredClone(genuine.record));
    training.remove();
    training.insert(copy);
    for (const index of [1, 2]) {
      const code = await nextCode();
      expect(code.index).toBe(index);
      expect(await desk.ws.verification.verify(awaiting.record.n, code.code)).toMatchObject({ accepted: true });
    }
    training.remove();
    training.insert(genuine);
    manager = await addOperator(desk.ws, 'manager');
    page = await desk.openPage();
  });
  afterAll(async () => {
    await desk?.close();
  });

  it('shows "Probable clone" with the drift; the manager disables the table after confirming', async () => {
    await signIn(page, manager.username, manager.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
    await openPageByAddress(page, 'cards');
    const check = page.getByRole('region', { name: 'Clone check' });
    const verdict = check.getByTestId('clone-verdict');
    await verdict.getByText('Probable clone').waitFor({ timeout: 15_000 });
    expect(await verdict.textContent()).toContain('drift +2');
    expect(await check.getByTestId('clone-card-used').textContent()).toBe('0');
    expect(await check.getByTestId('clone-server-used').textContent()).toBe('2');
    await check.getByTestId('suspicion-events').getByText('Server ahead of the card').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    // Cancel first: nothing changes.
    await check.getByRole('button', { name: 'Disable table 1' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    expect(await desk.sql.all('SELECT state FROM code_lists ORDER BY seq')).toEqual([{ state: 'active' }]);

    await check.getByRole('button', { name: 'Disable table 1' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('refused from now on');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Disable table' }).click();
    await check.getByTestId('clone-disabled').waitFor();
    expect(await desk.sql.all('SELECT state FROM code_lists ORDER BY seq')).toEqual([{ state: 'disabled' }]);
    await check
      .getByTestId('suspicion-events')
      .getByText(/table disabled by/)
      .waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    // The copy's next code is refused and raises disabled_table_used.
    training.remove();
    training.insert(copy);
    const late = await nextCode();
    expect(await desk.ws.verification.verify(awaiting.record.n, late.code)).toEqual({
      accepted: false,
      reason: 'table_disabled',
    });
    expect(await desk.sql.all('SELECT kind FROM suspicion_events WHERE resolved_at IS NULL ORDER BY kind')).toEqual([
      { kind: 'disabled_table_used' },
    ]);
  });
});

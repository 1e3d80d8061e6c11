import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriousA11yViolations } from '../support/a11y';
import { openDesk, type Desk } from '../support/browser';
import { approve, signIn } from '../support/desk-pages';
import { addCustomer, cardReadIn } from '../support/enrollment';
import { TRANSPORT_COMPONENT_HEX, TRANSPORT_KCV, componentKcv, keystoreWithMasterKey } from '../support/keys';
import { addOperator, setupOfficer, value, type TestOperator } from '../support/operators';
import { createTestCard, readCard } from '../support/test-cards';
import { useTestbed, type Testbed } from '../support/testbed';

// A real desk loads the card vendor's transport key on the Keys page: two security officers each
// type one component sheet with their own credentials into blind fields and compare the check value
// shown with their sheet; the key is stored only on the sheet's KCV. Before it, enrollment of a blank
// card over pcscd stops and says where to go; after it, the same card enrolls.

describe('loading the vendor transport key on the Keys page (browser mode, real pcscd)', () => {
  let bed: Testbed;
  let desk: Desk;
  let page: Page;
  let officer: TestOperator;
  let second: TestOperator;
  let clerk: TestOperator;

  beforeAll(async () => {
    bed = await useTestbed('vtmk-browser');
    desk = await openDesk({ readers: 'pcsc' });
    officer = await setupOfficer(desk.ws);
    second = await addOperator(desk.ws, 'security_officer');
    await keystoreWithMasterKey(desk.ws, officer, second);
    value(await desk.ws.router.dispatch(officer.client, 'keys:createBankCa', { commonName: 'Test Bank CA' }));
    clerk = await addOperator(desk.ws, 'clerk');
    page = await desk.openPage();
    await signIn(page, officer.username, officer.password);
    await page.getByRole('region', { name: 'Dashboard' }).waitFor();
  }, 90_000);

  afterAll(async () => {
    await desk?.close();
    await bed?.close();
  });

  /** Officer `who` types their credentials and their sheet into the component form. */
  async function enterSheet(who: TestOperator, hex: string) {
    const form = page.getByRole('form', { name: 'Enter transport key component' });
    await form.getByLabel('Custodian user name').fill(who.username);
    await form.getByLabel('Custodian password').fill(who.password);
    // Typed in groups of 4, as printed on the vendor's sheet.
    await form.getByLabel('Component', { exact: true }).fill(hex.match(/.{4}/g)!.join(' '));
    await form.getByLabel('Component', { exact: true }).press('Enter');
  }

  it('two officers load the key from the vendor’s sheets; then a blank card enrolls over pcscd', async () => {
    const customer = await addCustomer(desk.ws, 'Jan Kowalski');
    const blank = createTestCard(bed.cardDir);
    await bed.insert(blank.file, 0);
    const reader = bed.readerName(0);
    await cardReadIn(desk.ws, clerk.client, reader);

    // Without the vendor's key the enrollment stops before the card is touched, and says where to go.
    const refused = await desk.ws.router.dispatch(clerk.client, 'enrollment:enroll', {
      customerId: customer.id,
      reader,
    });
    expect(refused).toMatchObject({ ok: false, error: { code: 'KEYSTORE_NO_TRANSPORT_KEY' } });
    expect(refused.ok ? '' : refused.error.message).toContain('Keys page (Vendor transport key)');
    expect(readCard(blank)).toEqual(blank.record);

    await page.getByRole('link', { name: 'Keys' }).click();
    const section = page.getByRole('region', { name: 'Vendor transport key' });
    await section.getByTestId('transport-key-state').getByText('No vendor transport key is loaded').waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    // Keyboard first: the number of sheets, then Enter; a second officer approves at the same desk.
    const begin = section.getByRole('form', { name: 'Load vendor transport key' });
    await begin.getByLabel('Number of component sheets').selectOption('2');
    await begin.getByRole('button', { name: 'Load vendor transport key' }).press('Enter');
    await approve(page, second.username, second.password);
    await section.getByTestId('transport-progress').getByText('0 of 2').waitFor();

    const form = section.getByRole('form', { name: 'Enter transport key component' });
    for (const label of ['Component', 'Custodian user name', 'Custodian password'])
      expect(await form.getByLabel(label, { exact: true }).getAttribute('type')).toBe('password');
    await enterSheet(officer, TRANSPORT_COMPONENT_HEX[0]);
    await section
      .getByTestId('transport-component-kcv-1')
      .getByText(componentKcv(TRANSPORT_COMPONENT_HEX[0]))
      .waitFor();
    // One officer cannot type the second sheet too; every field is cleared either way.
    await enterSheet(officer, TRANSPORT_COMPONENT_HEX[1]);
    await form.locator('[data-code=CEREMONY_CUSTODIAN_REPEATED]').waitFor();
    for (const label of ['Component', 'Custodian user name', 'Custodian password'])
      expect(await form.getByLabel(label, { exact: true }).inputValue()).toBe('');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await enterSheet(second, TRANSPORT_COMPONENT_HEX[1]);
    await section
      .getByTestId('transport-component-kcv-2')
      .getByText(componentKcv(TRANSPORT_COMPONENT_HEX[1]))
      .waitFor();
    await section.getByTestId('transport-progress').getByText('2 of 2').waitFor();

    // A check value that is not the sheet's stores nothing.
    const finish = section.getByRole('form', { name: 'Finish transport key import' });
    const kcvField = finish.getByLabel("Transport key check value on the vendor's sheet");
    await kcvField.fill('000000');
    await kcvField.press('Enter');
    await finish.locator('[data-code=CEREMONY_KCV_MISMATCH]').waitFor();
    expect((await desk.ws.keystore.current().status()).transportKey).toBeNull();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await kcvField.fill(TRANSPORT_KCV.toLowerCase());
    await kcvField.press('Enter');
    await section.getByTestId('transport-key-loaded').getByText(TRANSPORT_KCV).waitFor();
    await section.getByTestId('transport-key-state').getByText(TRANSPORT_KCV).waitFor();
    expect(await section.getByRole('form', { name: 'Remove vendor transport key' }).count()).toBe(1);
    expect(await seriousA11yViolations(page)).toEqual([]);

    // No sheet, in any form the officers typed it, is in the page.
    const html = await page.content();
    for (const hex of TRANSPORT_COMPONENT_HEX)
      for (const typed of [hex, hex.toUpperCase(), hex.slice(0, 12), hex.match(/.{4}/g)!.join(' ')])
        expect(html).not.toContain(typed);
    expect(html).not.toContain(second.password);

    // The same blank card now enrolls through pcscd.
    const enrolled = value(
      await desk.ws.router.dispatch(clerk.client, 'enrollment:enroll', { customerId: customer.id, reader }),
    ) as { n: string };
    expect(readCard(blank)).toMatchObject({ lifeCycle: 'personalised', n: enrolled.n });
  }, 120_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import { SqliteCardRepository } from '../../../src/core/cards/card.repository';
import type { Workstation } from '../../../src/core/workstation';
import type { Result } from '../../../src/shared/contract';
import { CHEAP_SCRYPT, dispatchWhenFree, personaliseAwaiting, prepareKeystore } from '../../support/activation-cards';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';
import { createTestCard, readCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';

// Issue 11 item 1: a report blocks the card "at once" — and it must stay blocked when the thief or
// the finder hands the card in at a desk. The chip is still active; without the hold, reading it on
// the card page reconciled chip and record back to active and silently undid the report (found by
// review after the support and reissue branches met). Real pcscd + vpcd, the whole contract.

const PIN = '4711';

describe('a reported card presented at a desk reader (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let t: ReturnType<typeof freshWorkstation>;
  let ws: Workstation;
  let clerk: TestOperator;
  let support: TestOperator;
  let manager: TestOperator;
  const readers = () => ws.readers as CardReaderService;
  const call = (op: TestOperator, channel: string, input: unknown): Promise<Result<unknown>> =>
    dispatchWhenFree(ws, op, channel, input);

  beforeAll(async () => {
    bed = await useTestbed('support-hold');
    t = freshWorkstation({ readers: 'pcsc', keystoreScryptCost: CHEAP_SCRYPT });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    clerk = await addOperator(ws, 'clerk');
    support = await addOperator(ws, 'support');
    manager = await addOperator(ws, 'manager');
    await eventually(() => readers().snapshot().readers.length === 2, 'both vpcd readers', 10_000);
  }, 120_000);
  afterAll(async () => {
    await t?.dispose();
    await bed?.close();
  });

  it('stays blocked on the card page, says why, and cannot be unblocked; the chip is untouched', async () => {
    const file = createTestCard(bed.cardDir);
    await bed.insert(file.file, 0);
    const reader = bed.readerName(0);
    await eventually(
      () =>
        readers()
          .snapshot()
          .readers.some((r) => r.name === reader && r.cardPresent),
      'card present',
      10_000,
    );
    const awaiting = await personaliseAwaiting(ws, reader);
    value(await call(clerk, 'activation:activate', { reader, key: awaiting.mailerKey, pin: PIN, pinRepeat: PIN }));
    const reported = value(await call(support, 'support:report', { n: awaiting.record.n, reason: 'stolen' })) as {
      case: { id: number };
    };
    const cards = new SqliteCardRepository(ws.db);
    expect((await cards.byId(awaiting.record.id))?.state).toBe('blocked');
    const chipBefore = readCard(file);
    expect(chipBefore.lifeCycle).toBe('active');

    const seen = value(await call(clerk, 'cards:inReader', { reader })) as {
      record: { state: string };
      reconciled: string[];
    };
    expect(seen.record.state).toBe('blocked');
    expect(seen.reconciled.join(' ')).toMatch(new RegExp(`reported stolen \\(support case ${reported.case.id}\\)`));
    expect((await cards.byId(awaiting.record.id))?.state).toBe('blocked');
    expect(auditRows(ws).some((a) => a.action === 'cards.state_reconciled')).toBe(false);
    // A manager's unblock finds nothing to unblock on the chip; the record stays blocked either way.
    expect(await call(manager, 'activation:unblock', { reader })).toMatchObject({ ok: false });
    expect((await cards.byId(awaiting.record.id))?.state).toBe('blocked');
    expect(readCard(file)).toEqual(chipBefore);
    // The card's next code is refused as the card's, blocked.
    expect(await ws.verification.verify(awaiting.record.n, '000000')).toMatchObject({
      accepted: false,
      reason: 'card_blocked',
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { cardDesk, dispatchWhenFree, personaliseAwaiting, type AwaitingCard } from '../../support/activation-cards';
import { addOperator, value, type TestOperator } from '../../support/operators';
import { createTestCard, readCard } from '../../support/test-cards';
import { deskSql } from '../../support/test-engine';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';

// Attack (issue 11 item 1): a reported card is blocked in the database only; the chip still says
// personalised or active. Presented at a desk reader, activation's reconcile (activation.service.ts
// present(): RECONCILABLE holds 'blocked', DB_STATE_OF follows the chip) moves the record back to the
// chip's state, so the report's block did not hold: a thief with the card and its mailer activated it
// at any desk. Fixed by the support feature's presentation hook (SupportService.holdReported) and
// migration 0020's trigger. Over the real stack: the virtual card in pcscd via vpcd, the desk's
// database, the software keystore.

const PIN = '73915046';

describe('attack: a reported card presented at a desk reader (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let ws: DeskWorkstation;
  let clerk: TestOperator;
  let support: TestOperator;
  let reader: string;

  const freshCard = async (): Promise<AwaitingCard> => {
    await bed.remove(0);
    const file = createTestCard(bed.cardDir);
    await bed.insert(file.file, 0);
    await eventually(
      () => (ws.readers as CardReaderService).snapshot().readers.some((r) => r.name === reader && r.cardPresent),
      'card present',
    );
    const awaiting = await personaliseAwaiting(ws, reader);
    expect(readCard(file).lifeCycle).toBe('personalised');
    return awaiting;
  };
  const dbState = async (id: number) =>
    (await deskSql(ws).get<{ state: string }>('SELECT state FROM cards WHERE id = ?', id))?.state;
  const report = async (n: string) =>
    value(await ws.router.dispatch(support.client, 'support:report', { n, reason: 'stolen' })) as {
      created: boolean;
    };

  beforeAll(async () => {
    bed = await useTestbed('support-attack');
    reader = bed.readerName(0);
    desk = await cardDesk('pcsc');
    ws = desk.ws;
    clerk = await addOperator(ws, 'clerk');
    support = await addOperator(ws, 'support');
    await eventually(
      () => (ws.readers as CardReaderService).snapshot().readers.length === 2,
      'both vpcd readers',
      10_000,
    );
    // The PC/SC test bed is one per machine, shared by every worktree: its lock may be held a while.
  }, 180_000);

  afterAll(async () => {
    await desk?.dispose();
    await bed?.close();
  });

  // Was a hole: reconcile lifted the block (blocked → awaiting_activation) and the stolen card activated.
  it('a card reported stolen before activation stays blocked when presented, and its mailer K is refused', async () => {
    const awaiting = await freshCard();
    expect(await report(awaiting.record.n)).toMatchObject({ created: true });
    expect(await dbState(awaiting.record.id)).toBe('blocked');
    // the thief presents the card at a desk: the card page reads it
    value(await dispatchWhenFree(ws, clerk, 'cards:inReader', { reader }));
    const afterPresent = await dbState(awaiting.record.id);
    const activated = await dispatchWhenFree(ws, clerk, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: PIN,
      pinRepeat: PIN,
    });
    // Written so the hole shows in one line when this test is run as a plain `it`.
    expect({ afterPresent, activated: activated.ok, now: await dbState(awaiting.record.id) }).toEqual({
      afterPresent: 'blocked',
      activated: false,
      now: 'blocked',
    });
  });

  // Was a hole: reconcile lifted the block (blocked → active); the card took new lists at the desk again.
  it('an active card reported lost stays blocked when presented at a desk, says why, and cannot be unblocked', async () => {
    const awaiting = await freshCard();
    value(
      await dispatchWhenFree(ws, clerk, 'activation:activate', {
        reader,
        key: awaiting.mailerKey,
        pin: PIN,
        pinRepeat: PIN,
      }),
    );
    expect(await dbState(awaiting.record.id)).toBe('active');
    expect(await report(awaiting.record.n)).toMatchObject({ created: true });
    expect(await dbState(awaiting.record.id)).toBe('blocked');
    const seen = value(await dispatchWhenFree(ws, clerk, 'cards:inReader', { reader })) as {
      record: { state: string };
      reconciled: string[];
    };
    expect(seen.record.state).toBe('blocked');
    expect(seen.reconciled.join(' ')).toMatch(/reported stolen \(support case \d+\): the card stays blocked/);
    expect(await dbState(awaiting.record.id)).toBe('blocked');
    // A manager's unblock finds nothing to unblock on the chip; the record stays blocked either way.
    const manager = await addOperator(ws, 'manager');
    expect(await dispatchWhenFree(ws, manager, 'activation:unblock', { reader })).toMatchObject({ ok: false });
    expect(await dbState(awaiting.record.id)).toBe('blocked');
    // The card's codes are refused as a blocked card's.
    expect(await ws.verification.verify(awaiting.record.n, '000000')).toMatchObject({
      accepted: false,
      reason: 'card_blocked',
    });
  });
});

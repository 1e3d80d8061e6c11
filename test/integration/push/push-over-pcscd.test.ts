import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import type { DeskWorkstation } from '../../../src/core/workstation';
import {
  cardDesk,
  dispatchWhenFree,
  nextCodeIn,
  onCardIn,
  personaliseAwaiting,
  type AwaitingCard,
} from '../../support/activation-cards';
import { addOperator, auditRows, value, type TestOperator } from '../../support/operators';
import { createTestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import { deskSql } from '../../support/test-engine';

// The loop at the desk through pcscd + vpcd: activation pushes the first list at once; the card's
// next code (VERIFY PIN, NEXT CODE) is accepted by the core verify once and refused the second
// time; a refill pushed later supersedes the list only when the card's receipt verified; and an
// interruption — the card committed but the desk never heard — is finished at the next presentation.

const PIN = '4711';

describe('pushing code lists over the reader (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let ws: DeskWorkstation;
  let clerk: TestOperator;
  let manager: TestOperator;
  let reader: string;
  let awaiting: AwaitingCard;

  const readers = () => ws.readers as CardReaderService;
  const listRows = (cardRef: number) =>
    deskSql(ws).all<{ seq: number; state: string }>(
      'SELECT seq, state FROM code_lists WHERE card_ref = ? ORDER BY seq',
      cardRef,
    );
  const onCard = <T>(fn: (card: OtacCard) => Promise<T>) => onCardIn(readers(), reader, fn);
  const nextCode = () => nextCodeIn(readers(), reader, PIN);
  /** A call that waits out the reader monitor's own read of the card (CARD_BUSY), then must succeed. */
  const call = async (op: TestOperator, channel: string, input: unknown): Promise<unknown> =>
    value(await dispatchWhenFree(ws, op, channel, input));
  const push = () => call(clerk, 'push:pushNext', { reader });

  beforeAll(async () => {
    bed = await useTestbed('push');
    reader = bed.readerName(0);
    desk = await cardDesk('pcsc');
    ws = desk.ws;
    clerk = await addOperator(ws, 'clerk');
    manager = await addOperator(ws, 'manager');
    await eventually(() => readers().snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    await bed.insert(createTestCard(bed.cardDir).file, 0);
    await eventually(
      () =>
        readers()
          .snapshot()
          .readers.some((r) => r.name === reader && r.cardPresent),
      'card present',
    );
    awaiting = await personaliseAwaiting(ws, reader);
  }, 120_000);

  afterAll(async () => {
    await desk?.dispose();
    await bed?.close();
  });

  it('activation pushes the first list at once; the card’s next code is accepted once by verify', async () => {
    const activated = (await call(clerk, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: PIN,
      pinRepeat: PIN,
    })) as { followUps: { name: string; ok: boolean; message: string }[] };
    expect(activated.followUps).toEqual([{ name: 'first list', ok: true, message: 'List 1 is on the card.' }]);
    expect(await listRows(awaiting.record.id)).toEqual([{ seq: 1, state: 'active' }]);

    const code = await nextCode();
    expect(code.index).toBe(1);
    const n = awaiting.record.n;
    expect(await ws.verification.verify(n, code.code)).toMatchObject({ accepted: true, index: 1 });
    expect(await ws.verification.verify(n, code.code)).toEqual({ accepted: false, reason: 'already_used' });
    const second = await nextCode();
    expect(await ws.verification.verify(n, second.code, second.index)).toMatchObject({ accepted: true, index: 2 });
    const trail = (await auditRows(ws)).map((r) => r.action);
    expect(trail).toEqual(expect.arrayContaining(['lists.queued', 'keystore.list.issued', 'push.completed']));
    expect(JSON.stringify(await auditRows(ws))).not.toContain(code.code);
  });

  it('a refill is pushed at the next presentation and supersedes the old list only then', async () => {
    value(await ws.router.dispatch(manager.client, 'lists:requestRefill', { n: awaiting.record.n }));
    expect(await listRows(awaiting.record.id)).toEqual([
      { seq: 1, state: 'active' },
      { seq: 2, state: 'prepared' },
    ]);
    // Until the card holds list 2, list 1's codes still serve (the changeover rule).
    const old = await nextCode();
    expect(await ws.verification.verify(awaiting.record.n, old.code, old.index)).toMatchObject({ accepted: true });

    expect(await push()).toMatchObject({ outcome: 'pushed', seq: 2 });
    expect(await listRows(awaiting.record.id)).toEqual([
      { seq: 1, state: 'superseded' },
      { seq: 2, state: 'active' },
    ]);
    const fresh = await nextCode();
    expect(fresh.index).toBe(1);
    expect(await ws.verification.verify(awaiting.record.n, fresh.code, 1)).toMatchObject({ accepted: true });
    expect(await push()).toMatchObject({ outcome: 'nothing-to-push' });
  });

  it('finishes a push the card committed while the desk never heard (GET RECEIPT at the next presentation)', async () => {
    const queued = value(await ws.router.dispatch(manager.client, 'lists:requestRefill', { n: awaiting.record.n })) as {
      list: { seq: number };
    };
    const listRef = (await deskSql(ws).get<{ id: number }>(
      'SELECT id FROM code_lists WHERE card_ref = ? AND seq = ?',
      awaiting.record.id,
      3,
    ))!.id;
    expect(queued.list.seq).toBe(3);
    // The desk sealed and sent list 3, the card committed it, and the workstation died before
    // recording anything more: the database still says prepared.
    await onCard(async (card) => {
      const state = await card.getState();
      const port = new KeystoreCardKeyPort(ws.keystore.current());
      const prepared = await ws.lists.sealForPush(listRef, port, await port.issuerKey(), {
        mode: 'card-key',
        cardKey: await port.cardKey(awaiting.record.n),
        keyVersion: state.keyVersion,
      });
      await card.loadList(prepared.envelope);
    });
    expect((await listRows(awaiting.record.id)).at(-1)).toEqual({ seq: 3, state: 'prepared' });

    expect(await push()).toMatchObject({ outcome: 'resumed', seq: 3 });
    expect(await listRows(awaiting.record.id)).toEqual([
      { seq: 1, state: 'superseded' },
      { seq: 2, state: 'superseded' },
      { seq: 3, state: 'active' },
    ]);
    const code = await nextCode();
    expect(await ws.verification.verify(awaiting.record.n, code.code, code.index)).toMatchObject({ accepted: true });
  });
});

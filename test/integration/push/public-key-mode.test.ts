import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import { verifyListReceipt } from '../../../src/core/card/protocol/list-preparation';
import { loadPackage, parseReceiptText, receiptText } from '../../../src/core/push/package-loader';
import { listSealFor } from '../../../src/core/push/seal-target';
import { joinPackage, splitPackage } from '../../../src/core/push/sms-package';
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
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { publicKeyOnCard } from '../../support/list-envelopes';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import { deskSql } from '../../support/test-engine';

// Public-key mode end to end through pcscd + vpcd (docs/push.md, "Public-key mode"): a card
// enrolled and activated in card-key mode is switched by a manager — the card makes its key pair
// and the desk keeps the public key from the card's R-MACed answer — then a refill travels as a
// type 02 envelope for that key, and the card's NEXT CODE is accepted by verify. A card whose key
// pair was made again behind the desk's back refuses the envelope; the desk says what to do, and
// doing it finishes the job. A remote refill package is sealed the same way and loads through
// pcscd from its text messages. Switching back to card-key mode seals the next list under K again.

const PIN = '4711';

describe('public-key mode selectable per card (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let ws: DeskWorkstation;
  let clerk: TestOperator;
  let manager: TestOperator;
  let reader: string;
  let card: TestCard;
  let awaiting: AwaitingCard;

  const readers = () => ws.readers as CardReaderService;
  const record = async () =>
    (await deskSql(ws).get('SELECT * FROM cards WHERE id = ?', awaiting.record.id)) as Record<string, unknown>;
  const listRows = () =>
    deskSql(ws).all<{ seq: number; state: string; sealed_for: string | null }>(
      'SELECT seq, state, sealed_for FROM code_lists WHERE card_ref = ? ORDER BY seq',
      awaiting.record.id,
    );
  const cardKeyOnCard = () => publicKeyOnCard(readCard(card).rsa);
  const onCard = <T>(fn: (c: OtacCard) => Promise<T>) => onCardIn(readers(), reader, fn);
  const nextCode = () => nextCodeIn(readers(), reader, PIN);
  /** The router's answer, waiting out the reader monitor's own read of the card (CARD_BUSY). */
  const dispatch = (op: TestOperator, channel: string, input: unknown) => dispatchWhenFree(ws, op, channel, input);
  const call = async (op: TestOperator, channel: string, input: unknown) => value(await dispatch(op, channel, input));
  const refill = () => call(manager, 'lists:requestRefill', { n: awaiting.record.n });

  beforeAll(async () => {
    bed = await useTestbed('public-key-mode');
    reader = bed.readerName(0);
    desk = await cardDesk('pcsc');
    ws = desk.ws;
    clerk = await addOperator(ws, 'clerk');
    manager = await addOperator(ws, 'manager');
    await eventually(() => readers().snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    card = createTestCard(bed.cardDir);
    await bed.insert(card.file, 0);
    await eventually(
      () =>
        readers()
          .snapshot()
          .readers.some((r) => r.name === reader && r.cardPresent),
      'card present',
    );
    awaiting = await personaliseAwaiting(ws, reader);
    const activated = (await call(clerk, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: PIN,
      pinRepeat: PIN,
    })) as { followUps: { ok: boolean }[] };
    expect(activated.followUps).toEqual([expect.objectContaining({ ok: true })]);
  }, 120_000);

  afterAll(async () => {
    await desk?.dispose();
    await bed?.close();
  });

  it('switches an active card to public-key mode: the key on record is the one the card made', async () => {
    expect(cardKeyOnCard()).toBeNull();
    expect(await record()).toMatchObject({ seal_mode: 'card-key', public_key: null });
    // A clerk serves the cardholder, but choosing the keys a card's lists are sealed for is a manager's.
    expect(await dispatch(clerk, 'cards:setSealMode', { reader, mode: 'public-key' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    const switched = (await call(manager, 'cards:setSealMode', { reader, mode: 'public-key' })) as {
      sealMode: string;
      keyFingerprint: string;
    };
    const onCardKey = cardKeyOnCard();
    expect(onCardKey).not.toBeNull();
    expect(await record()).toMatchObject({ seal_mode: 'public-key', public_key: onCardKey });
    expect(switched.sealMode).toBe('public-key');
    expect(switched.keyFingerprint).toMatch(/^[0-9a-f]{16}$/);
    const view = (await call(clerk, 'cards:inReader', { reader })) as { record: { sealMode: string } };
    expect(view.record.sealMode).toBe('public-key');
    const audit = (await auditRows(ws)).filter((r) => r.action === 'cards.seal_mode');
    expect(audit.at(-1)).toMatchObject({ outcome: 'ok', operator: manager.username });
  });

  it('pushes a refill as a type 02 envelope for that key; the card’s next code is accepted once by verify', async () => {
    await refill();
    expect(await call(clerk, 'push:pushNext', { reader })).toMatchObject({ outcome: 'pushed', seq: 2 });
    const rows = await listRows();
    expect(rows.map((r) => [r.seq, r.state])).toEqual([
      [1, 'superseded'],
      [2, 'active'],
    ]);
    expect(rows[0]?.sealed_for).toBe(`card:${awaiting.record.n}`);
    expect(rows[1]?.sealed_for).toMatch(/^rsa:[0-9a-f]{64}$/);
    const code = await nextCode();
    expect(code.index).toBe(1);
    expect(await ws.verification.verify(awaiting.record.n, code.code)).toMatchObject({ accepted: true, index: 1 });
    expect(await ws.verification.verify(awaiting.record.n, code.code)).toEqual({
      accepted: false,
      reason: 'already_used',
    });
  });

  it('a key pair made again behind the desk’s back: the card refuses the envelope, the desk says what to do', async () => {
    const recorded = (await record()).public_key;
    // Someone with K opens a session and has the card make a new key pair; the desk never hears.
    await onCard(async (c) => {
      const port = new KeystoreCardKeyPort(ws.keystore.current());
      const sm = await c.openSecureChannel(port, await port.cardKey(awaiting.record.n), 1);
      await sm.generateKeyPair();
    });
    expect(cardKeyOnCard()).not.toBe(recorded);
    await refill();
    const listOnCard = readCard(card).list?.listSeq;
    const refused = await dispatch(clerk, 'push:pushNext', { reader });
    expect(refused).toMatchObject({ ok: false, error: { code: 'PUSH_KEY_PAIR_CHANGED' } });
    if (refused.ok) throw new Error('unreachable');
    expect(refused.error.message).toMatch(/Use public-key mode.*again/);
    // Nothing changed: the card keeps its list, the issuer's active list is still list 2.
    expect(readCard(card).list?.listSeq).toBe(listOnCard);
    expect((await listRows()).find((r) => r.state === 'active')?.seq).toBe(2);
    expect(await record()).toMatchObject({ seal_mode: 'public-key', public_key: recorded });

    // What the desk said: the card proves a new key, then the push finishes with a fresh list.
    await call(manager, 'cards:setSealMode', { reader, mode: 'public-key' });
    expect((await record()).public_key).toBe(cardKeyOnCard());
    expect(await call(clerk, 'push:pushNext', { reader })).toMatchObject({ outcome: 'pushed', seq: 4 });
    expect((await listRows()).map((r) => [r.seq, r.state])).toEqual([
      [1, 'superseded'],
      [2, 'superseded'],
      [3, 'disabled'], // sealed for the key the card no longer holds; never on the card
      [4, 'active'],
    ]);
    const code = await nextCode();
    expect(await ws.verification.verify(awaiting.record.n, code.code, code.index)).toMatchObject({ accepted: true });
  });

  it('a remote refill package follows the card’s mode: type 02, as text messages, loaded through pcscd', async () => {
    await refill();
    const card5 = await deskSql(ws).repos.cards.byId(awaiting.record.id);
    const list5 = (await listRows()).at(-1)!;
    const listRef = (await deskSql(ws).get<{ id: number }>(
      'SELECT id FROM code_lists WHERE card_ref = ? AND seq = ?',
      awaiting.record.id,
      list5.seq,
    ))!.id;
    const port = new KeystoreCardKeyPort(ws.keystore.current());
    const { seal, cardKey } = await listSealFor(card5!, port, 1);
    expect(cardKey).toBeNull();
    const prepared = await ws.lists.sealForPush(listRef, port, await port.issuerKey(), seal);
    expect(prepared.envelope[0]).toBe(0x02); // profile 7.3: type 02, for the card's own key
    const messages = splitPackage(prepared.envelope);
    const envelope = joinPackage([...messages].reverse());
    const loaded = await onCard((c) => loadPackage(c, envelope));
    const back = parseReceiptText(receiptText(envelope, loaded.receipt));
    await verifyListReceipt(port, prepared, back.receipt);
    await ws.lists.markCommitted(listRef);
    await ws.lists.markReceiptVerified(listRef);
    await ws.lists.activate(listRef, { operatorId: null, operator: 'system', role: null });
    const code = await nextCode();
    expect(code.index).toBe(1);
    expect(await ws.verification.verify(awaiting.record.n, code.code, 1)).toMatchObject({ accepted: true });
  });

  it('switches back to card-key mode: the key is no longer kept and the next list is sealed under K', async () => {
    expect(await call(manager, 'cards:setSealMode', { reader, mode: 'card-key' })).toMatchObject({
      sealMode: 'card-key',
      keyFingerprint: null,
    });
    expect(await record()).toMatchObject({ seal_mode: 'card-key', public_key: null });
    await refill();
    expect(await call(clerk, 'push:pushNext', { reader })).toMatchObject({ outcome: 'pushed', seq: 6 });
    expect((await listRows()).at(-1)).toMatchObject({
      seq: 6,
      state: 'active',
      sealed_for: `card:${awaiting.record.n}`,
    });
    const code = await nextCode();
    expect(await ws.verification.verify(awaiting.record.n, code.code, code.index)).toMatchObject({ accepted: true });
    const trail = (await auditRows(ws))
      .filter((r) => r.action === 'cards.seal_mode' && r.outcome === 'ok')
      .map((r) => JSON.parse(String(r.details)) as { to: string });
    expect(trail.map((d) => d.to)).toEqual(['public-key', 'card-key', 'public-key', 'card-key']);
  });
});

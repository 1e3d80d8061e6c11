import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { RawCardKeyPort } from '../../../src/core/card/raw-card-key-port';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import type { Result } from '../../../src/shared/contract';
import {
  cardDesk,
  otherKey,
  personaliseAwaiting,
  withRetry,
  withTypo,
  type AwaitingCard,
} from '../../support/activation-cards';
import { addOperator, approvalFor, approvalOf, auditRows, value, type TestOperator } from '../../support/operators';
import { encodings } from '../../support/secret-encodings';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { databaseContents } from '../../support/desk-contents';
import { deskSql } from '../../support/test-engine';

// Activation, unblock and rotation through the contract, over the real stack: the virtual card
// in pcscd via vpcd, the run's database engine, the software keystore. Every answer is kept for the secret scan.

const PIN = '73915046';
const messageOf = (r: Result<unknown>): string => (r.ok ? '' : r.error.message);

describe('activation at the desk (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let ws: DeskWorkstation;
  let clerk: TestOperator;
  let manager: TestOperator;
  let manager2: TestOperator;
  let support: TestOperator;
  let reader: string;
  const answers: unknown[] = [];
  const typed: string[] = [];
  const keys: Buffer[] = [];

  const call = async (op: TestOperator, channel: string, input: unknown): Promise<Result<unknown>> => {
    const r = await ws.router.dispatch(op.client, channel, input);
    answers.push(r);
    return r;
  };

  /** A fresh blank card in slot 0, personalised for a new customer, awaiting activation. */
  const freshCard = async (activationTries = 5): Promise<{ file: TestCard; awaiting: AwaitingCard }> => {
    await bed.remove(0);
    const file = createTestCard(bed.cardDir);
    await bed.insert(file.file, 0);
    await eventually(
      () => (ws.readers as CardReaderService).snapshot().readers.some((r) => r.name === reader && r.cardPresent),
      'card present',
    );
    const awaiting = await personaliseAwaiting(ws, reader, { activationTries });
    typed.push(awaiting.mailerKey);
    const parsed = parseMailerKey(awaiting.mailerKey);
    if (parsed.ok) keys.push(parsed.key);
    return { file, awaiting };
  };

  const inReader = async (op: TestOperator) =>
    value(
      await withRetry(async () => {
        const r = await call(op, 'cards:inReader', { reader });
        if (!r.ok && r.error.code === 'CARD_BUSY') throw Object.assign(new Error('busy'), { code: 'CARD_BUSY' });
        return r;
      }),
    ) as {
      card: { lifeCycle: string; activationTriesLeft: number; keyVersion: number } | null;
      record: { state: string; customerName: string } | null;
      nextAction: string;
    };

  const dbState = async (id: number) =>
    (await deskSql(ws).get<{ state: string }>('SELECT state FROM cards WHERE id = ?', id))?.state;

  beforeAll(async () => {
    bed = await useTestbed('activation');
    reader = bed.readerName(0);
    desk = await cardDesk('pcsc');
    ws = desk.ws;
    clerk = await addOperator(ws, 'clerk');
    manager = await addOperator(ws, 'manager');
    manager2 = await addOperator(ws, 'manager');
    support = await addOperator(ws, 'support');
    await eventually(
      () => (ws.readers as CardReaderService).snapshot().readers.length === 2,
      'both vpcd readers',
      10_000,
    );
  });

  afterAll(async () => {
    await desk?.dispose();
    await bed?.close();
  });

  it('activates end to end: the card page shows whose card it is, K typed from the mailer, the card and the record active', async () => {
    const { file, awaiting } = await freshCard();
    const before = await inReader(clerk);
    expect(before).toMatchObject({
      nextAction: 'activate',
      record: { state: 'awaiting_activation', customerName: awaiting.customerName },
      card: { lifeCycle: 'personalised', activationTriesLeft: 5 },
    });

    const r = value(
      await call(clerk, 'activation:activate', { reader, key: awaiting.mailerKey, pin: PIN, pinRepeat: PIN }),
    );
    // The first list follows at once, while the card is still in the reader (docs/push.md).
    expect(r).toMatchObject({
      n: awaiting.record.n,
      state: 'active',
      completedEarlier: false,
      followUps: [{ name: 'first list', ok: true, message: 'List 1 is on the card.' }],
    });
    expect(await dbState(awaiting.record.id)).toBe('active');
    expect(readCard(file)).toMatchObject({ lifeCycle: 'active', pin: PIN });
    expect(await inReader(clerk)).toMatchObject({ nextAction: 'rotate', record: { state: 'active' } });
    expect((await auditRows(ws)).filter((a) => a.action === 'activation.activate' && a.outcome === 'ok')).toHaveLength(
      1,
    );

    // Once active, the same K again is an answer, not a second ACTIVATE; another K is refused.
    const again = await call(clerk, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: PIN,
      pinRepeat: PIN,
    });
    expect(again).toMatchObject({ ok: true, value: { completedEarlier: true } });
    const other = otherKey();
    typed.push(other);
    const foreign = await call(clerk, 'activation:activate', { reader, key: other, pin: PIN, pinRepeat: PIN });
    expect(foreign).toMatchObject({ ok: false, error: { code: 'CARD_ALREADY_ACTIVE' } });
    expect(readCard(file).activationTriesLeft).toBe(5);
  });

  it('a typo in K is caught by the check characters before the card is touched: no try spent', async () => {
    const { file, awaiting } = await freshCard();
    const cardBefore = readCard(file);
    const typo = withTypo(awaiting.mailerKey);
    typed.push(typo);
    const r = await call(clerk, 'activation:activate', { reader, key: typo, pin: PIN, pinRepeat: PIN });
    expect(r).toMatchObject({ ok: false, error: { code: 'ACTIVATION_KEY_TYPO' } });
    if (r.ok) return;
    expect(r.error.message).toMatch(/Group 3/);
    expect(readCard(file)).toEqual(cardBefore);
    expect(readCard(file).activationTriesLeft).toBe(5);
    expect(await dbState(awaiting.record.id)).toBe('awaiting_activation');
    // A PIN that breaks the rule is refused as early.
    const shortPin = await call(clerk, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: '12',
      pinRepeat: '12',
    });
    expect(shortPin).toMatchObject({ ok: false, error: { code: 'PIN_FORMAT' } });
    const mismatch = await call(clerk, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: PIN,
      pinRepeat: '73915047',
    });
    expect(mismatch).toMatchObject({ ok: false, error: { code: 'PIN_MISMATCH' } });
    expect(readCard(file)).toEqual(cardBefore);
  });

  it('a wrong K costs a try each time, the tries left are shown, and at zero card and record are blocked', async () => {
    const { file, awaiting } = await freshCard(3);
    const wrong = otherKey();
    typed.push(wrong);
    const first = await call(clerk, 'activation:activate', { reader, key: wrong, pin: PIN, pinRepeat: PIN });
    expect(first).toMatchObject({ ok: false, error: { code: 'ACTIVATION_KEY_WRONG' } });
    expect(messageOf(first)).toMatch(/2 tries left/);
    expect(readCard(file).activationTriesLeft).toBe(2);
    expect((await inReader(clerk)).card?.activationTriesLeft).toBe(2);
    const second = await call(clerk, 'activation:activate', { reader, key: wrong, pin: PIN, pinRepeat: PIN });
    expect(messageOf(second)).toMatch(/1 try left/);
    const third = await call(clerk, 'activation:activate', { reader, key: wrong, pin: PIN, pinRepeat: PIN });
    expect(third).toMatchObject({ ok: false, error: { code: 'ACTIVATION_BLOCKED' } });
    expect(readCard(file).lifeCycle).toBe('blocked');
    expect(await dbState(awaiting.record.id)).toBe('blocked');
    expect(await inReader(clerk)).toMatchObject({ nextAction: 'unblock' });
    // Blocked: even the right K is refused now, by the card.
    const right = await call(clerk, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: PIN,
      pinRepeat: PIN,
    });
    expect(right).toMatchObject({ ok: false, error: { code: 'CARD_BLOCKED' } });
    expect(
      (await auditRows(ws)).filter(
        (a) => a.action === 'activation.activate' && a.outcome === 'denied' && a.object === awaiting.record.n,
      ),
    ).toHaveLength(3);
  });

  it('unblock needs a second manager or officer: no approval and self-approval are refused with nothing changed', async () => {
    const { file, awaiting } = await freshCard(3);
    const wrong = otherKey();
    for (let i = 0; i < 3; i++)
      await call(clerk, 'activation:activate', { reader, key: wrong, pin: PIN, pinRepeat: PIN });
    const blocked = readCard(file);
    expect(blocked.lifeCycle).toBe('blocked');

    const none = await call(manager, 'activation:unblock', { reader });
    expect(none).toMatchObject({ ok: false, error: { code: 'APPROVAL_REQUIRED' } });
    const self = await call(manager, 'activation:unblock', {
      reader,
      approval: await approvalFor(ws, manager, 'card.unblock', approvalOf(manager)),
    });
    expect(self).toMatchObject({ ok: false, error: { code: 'APPROVAL_SAME_OPERATOR' } });
    const clerkTries = await call(clerk, 'activation:unblock', { reader });
    expect(clerkTries).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    // A clerk is not an approver for this action.
    const lowApprover = await call(manager, 'activation:unblock', {
      reader,
      approval: await approvalFor(ws, manager, 'card.unblock', approvalOf(clerk)),
    });
    expect(lowApprover).toMatchObject({ ok: false, error: { code: 'APPROVAL_ROLE' } });
    expect(readCard(file)).toEqual(blocked);
    expect(await dbState(awaiting.record.id)).toBe('blocked');

    const ok = value(
      await call(manager, 'activation:unblock', {
        reader,
        approval: await approvalFor(ws, manager, 'card.unblock', approvalOf(manager2)),
      }),
    );
    expect(ok).toMatchObject({ state: 'awaiting_activation', approvedBy: manager2.username });
    expect(readCard(file)).toMatchObject({ lifeCycle: 'personalised', activationTriesLeft: 3 });
    expect(await dbState(awaiting.record.id)).toBe('awaiting_activation');
    expect(await auditRows(ws)).toContainEqual(
      expect.objectContaining({ action: 'activation.unblock', outcome: 'ok', object: awaiting.record.n }),
    );

    // And now the cardholder activates with the right K.
    value(await call(clerk, 'activation:activate', { reader, key: awaiting.mailerKey, pin: PIN, pinRepeat: PIN }));
    expect(readCard(file).lifeCycle).toBe('active');
  });

  it("rotates K → K' from the card page: afterwards the card refuses K and new sessions use K'", async () => {
    const { file, awaiting } = await freshCard();
    value(await call(clerk, 'activation:activate', { reader, key: awaiting.mailerKey, pin: PIN, pinRepeat: PIN }));
    const oldKey = Buffer.from(readCard(file).cardKey ?? '', 'hex');
    expect(oldKey).toHaveLength(16);

    const clerkTries = await call(clerk, 'cards:rotateKey', { reader });
    expect(clerkTries).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const r = value(await call(support, 'cards:rotateKey', { reader }));
    expect(r).toMatchObject({ n: awaiting.record.n, fromVersion: 1, toVersion: 2, recovered: false });
    const after = readCard(file);
    expect(after.keyVersion).toBe(2);
    expect(Buffer.from(after.cardKey ?? '', 'hex').equals(oldKey)).toBe(false);
    keys.push(Buffer.from(after.cardKey ?? '', 'hex'));

    const readers = ws.readers as CardReaderService;
    await withRetry(() =>
      readers.withCard(reader, async (t) => {
        const card = new OtacCard(t);
        await card.select();
        const raw = new RawCardKeyPort();
        const old = raw.importAesKey(oldKey);
        // The old key version is unknown to the card now; the old key under the new version fails its cryptogram.
        await expect(card.openSecureChannel(raw, old, 1)).rejects.toMatchObject({ sw: 0x6a88 });
        await expect(card.openSecureChannel(raw, old, 2)).rejects.toMatchObject({ code: 'CARD_AUTH_FAILED' });
        const port = new KeystoreCardKeyPort(ws.keystore.current());
        const state = await (await card.openSecureChannel(port, await port.cardKey(awaiting.record.n), 2)).readState();
        expect(state).toMatchObject({ keyVersion: 2, lifeCycle: 'active' });
      }),
    );
    expect(await ws.keystore.current().cardKeyState(awaiting.record.n)).toMatchObject({ sn: 2, pendingSn: null });
    expect(await inReader(support)).toMatchObject({ card: { keyVersion: 2 } });
    expect(await auditRows(ws)).toContainEqual(expect.objectContaining({ action: 'cards.rotate_key', outcome: 'ok' }));
  });

  it('K and the PIN never appear in the database (file and WAL, or every row on PostgreSQL), the log, the audit trail or any answer', async () => {
    expect(typed.length).toBeGreaterThanOrEqual(5);
    expect(keys.length).toBeGreaterThanOrEqual(5);
    expect(answers.length).toBeGreaterThan(20);
    const database = await databaseContents(ws, desk.dataDir);
    // The control for the database: the scan reads its rows (the audit trail's actions among them).
    expect(database.map(([, text]) => text).join('\n')).toContain('activation.activate');
    const log = join(desk.dataDir, 'logs', 'workstation.log');
    expect(existsSync(log)).toBe(true);
    const places: [string, string][] = [
      ...database,
      [log, readFileSync(log).toString('latin1')],
      ['audit', JSON.stringify(await auditRows(ws))],
      ['answers', JSON.stringify(answers)],
    ];
    const needles = [
      ...typed.flatMap((t) => [t, t.replace(/-/g, '')]),
      ...typed.flatMap((t) =>
        t
          .split('-')
          .slice(0, 6)
          .map((g, i, a) => `${g}-${a[i + 1] ?? ''}`),
      ),
      ...keys.flatMap((k) => encodings(k)),
      PIN,
    ];
    const leaks = places.flatMap(([where, text]) =>
      needles.filter((n) => text.includes(n)).map((n) => `${where}: ${n.length} chars`),
    );
    expect(leaks).toEqual([]);
    // The control: the scan would find a K if one were there.
    expect(needles.some((n) => JSON.stringify({ x: typed[0] }).includes(n))).toBe(true);
  });
});

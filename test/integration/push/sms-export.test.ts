import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import type { DeskWorkstation } from '../../../src/core/workstation';
import {
  cardDesk,
  dispatchWhenFree,
  personaliseAwaiting,
  withRetry,
  type AwaitingCard,
} from '../../support/activation-cards';
import { addOperator, auditRows, value, type TestOperator } from '../../support/operators';
import { createTestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import { deskSql } from '../../support/test-engine';

// A queued list sent by text message from the desk (push:exportSms, docs/remote-refill.md): the
// segments from the contract (of an earlier export: any complete package of the list serves), shuffled, fed to `npm run load-package` — a separate process with no
// key — load into the card through pcscd; the card's next code is accepted by verify. The list is
// recorded as sent (staged, audited), and the next presentation at a reader finishes the same list
// with GET RECEIPT instead of issuing a second one.

const PIN = '3141';
const run = promisify(execFile);

describe('a queued list exported as an SMS package at the desk loads into the card through pcscd', () => {
  let bed: Testbed;
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let ws: DeskWorkstation;
  let clerk: TestOperator;
  let support: TestOperator;
  let reader: string;
  let awaiting: AwaitingCard;
  let dir: string;

  const readers = () => ws.readers as CardReaderService;
  const listRows = () =>
    deskSql(ws).all('SELECT seq, state FROM code_lists WHERE card_ref = ? ORDER BY seq', awaiting.record.id);
  const snapshot = async () => ({
    lists: await deskSql(ws).all('SELECT * FROM code_lists ORDER BY id'),
    audit: (await auditRows(ws)).filter((r) => r.action === 'lists.sent_by_sms').length,
  });
  const call = async (op: TestOperator, channel: string, input: unknown) => dispatchWhenFree(ws, op, channel, input);
  const exportSms = async (op: TestOperator) =>
    (await call(op, 'push:exportSms', { n: awaiting.record.n })) as
      | { ok: true; value: { seq: number; packageId: string; segments: string[]; resent: boolean } }
      | { ok: false; error: { code: string; message: string } };
  const loader = (file: string) =>
    run('npx', ['tsx', 'scripts/load-package.ts', file, '--reader', reader], { timeout: 60_000 });

  beforeAll(async () => {
    bed = await useTestbed('sms-export');
    reader = bed.readerName(0);
    desk = await cardDesk('pcsc');
    ws = desk.ws;
    clerk = await addOperator(ws, 'clerk');
    support = await addOperator(ws, 'support');
    dir = mkdtempSync(join(tmpdir(), 'otac-sms-'));
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
    value(await call(clerk, 'activation:activate', { reader, key: awaiting.mailerKey, pin: PIN, pinRepeat: PIN }));
  }, 120_000);

  afterAll(async () => {
    await desk?.dispose();
    await bed?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses with nothing changed: no list queued, a clerk, an unknown N', async () => {
    const before = await snapshot();
    expect(await exportSms(support)).toMatchObject({ ok: false, error: { code: 'SMS_NO_LIST_QUEUED' } });
    value(await ws.router.dispatch(support.client, 'lists:requestRefill', { n: awaiting.record.n }));
    const queued = await snapshot();
    expect(queued.lists).not.toEqual(before.lists);
    expect(await exportSms(clerk)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await ws.router.dispatch(support.client, 'push:exportSms', { n: 'N-NOBODY' })).toMatchObject({
      ok: false,
      error: { code: 'CARD_UNKNOWN' },
    });
    expect(await snapshot()).toEqual(queued);
  });

  it('exports the queued list as segments and marks it sent; a second export is the same list; the package loads and verify accepts its code', async () => {
    const first = await exportSms(support);
    if (!first.ok) throw new Error(first.error.message);
    expect(first.value).toMatchObject({ seq: 2, resent: false });
    expect(first.value.segments.length).toBeGreaterThan(1);
    expect(first.value.segments.every((s) => s.length <= 160 && s.startsWith(`OTAC1 ${first.value.packageId} `))).toBe(
      true,
    );
    expect(await listRows()).toEqual([
      { seq: 1, state: 'active' },
      { seq: 2, state: 'staged' },
    ]);
    const again = await exportSms(support);
    if (!again.ok) throw new Error(again.error.message);
    // The same list again (the issuer's signature is randomised, so the package id is new); either package loads it.
    expect(again.value).toMatchObject({ seq: 2, resent: true });
    expect(again.value.segments).toHaveLength(first.value.segments.length);
    expect(await listRows()).toHaveLength(2);
    const sent = (await auditRows(ws)).filter((r) => r.action === 'lists.sent_by_sms');
    expect(sent.map((r) => JSON.parse(r.details) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ seq: 2, packageId: first.value.packageId, resent: false }),
      expect.objectContaining({ seq: 2, packageId: again.value.packageId, resent: true }),
    ]);
    expect(sent.every((r) => r.operator === support.username && r.object === `card:${awaiting.record.n}`)).toBe(true);

    // The cardholder's own reader, with the first package: the messages in any order, one repeated, through pcscd.
    const shuffled = [...first.value.segments].reverse();
    const file = join(dir, 'package.txt');
    writeFileSync(file, [...shuffled, shuffled[0]].join('\n'));
    const out = await loader(file);
    expect(out.stdout).toContain('list 2 committed');
    expect(out.stdout).toMatch(/OTACR [0-9A-Z]{6} /);

    // Back at a desk reader: the same list, finished by the card's receipt — not a second list.
    const pushed = value(await call(clerk, 'push:pushNext', { reader })) as { outcome: string; seq: number };
    expect(pushed).toMatchObject({ outcome: 'resumed', seq: 2 });
    expect(await listRows()).toEqual([
      { seq: 1, state: 'superseded' },
      { seq: 2, state: 'active' },
    ]);
    const code = await withRetry(() =>
      readers().withCard(reader, async (t) => {
        const card = new OtacCard(t);
        await card.select();
        await card.verifyPin(PIN);
        return card.nextCode();
      }),
    );
    // List 2's first code: list 1 is superseded, so only the new list can accept it.
    expect(code.index).toBe(1);
    expect(await ws.verification.verify(awaiting.record.n, code.code)).toMatchObject({ accepted: true, index: 1 });
    expect(await ws.verification.verify(awaiting.record.n, code.code)).toEqual({
      accepted: false,
      reason: 'already_used',
    });
    // Once on the card, there is nothing left to send.
    expect(await exportSms(support)).toMatchObject({ ok: false, error: { code: 'SMS_NO_LIST_QUEUED' } });
  });
});

import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import type { CodeChallengeResponse } from '../../../src/core/card/protocol/card-responses';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { cardDesk, personaliseAwaiting, withRetry, type AwaitingCard } from '../../support/activation-cards';
import { addOperator, auditRows, value, type TestOperator } from '../../support/operators';
import { createTestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import { startDeskService } from '../../support/desk-service';
import { deskSql } from '../../support/test-engine';
import { call } from '../../support/verify-service';

// Issue 10 items 2 and 3 over the real card through pcscd + vpcd, and the verification service over
// HTTP on the desk's database: the card itself computes every challenge answer (CHALLENGE RESPONSE)
// and every code (NEXT CODE). Then the clone scenarios of source 003 FIG. 5–7: a copy of the card
// (its file copied, keys, list and all) is used first; the genuine card's code is refused as used
// and the replay recorded; the desk's comparison of the genuine card's R-MACed counters with the
// server's flags the drift; the table is disabled from the desk and the copy's next code is refused.

const PIN = '4711';

describe('challenge-response and clone detection over the reader (real pcscd + vpcd) and HTTP', () => {
  let bed: Testbed;
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let ws: DeskWorkstation;
  let clerk: TestOperator;
  let manager: TestOperator;
  let reader: string;
  let cloneReader: string;
  let cardFile: string;
  let awaiting: AwaitingCard;
  let svc: Awaited<ReturnType<typeof startDeskService>>;
  /** How far the service's clock runs ahead of the desk's (the real one). */
  let ahead = 0;
  let challengeKey: string;
  let verifyKey: string;

  const readers = () => ws.readers as CardReaderService;
  const onCard = <T>(where: string, fn: (card: OtacCard) => Promise<T>) =>
    withRetry(() =>
      readers().withCard(where, async (t) => {
        const card = new OtacCard(t);
        await card.select();
        return fn(card);
      }),
    );
  const nextCode = (where = reader) =>
    onCard(where, async (card) => {
      await card.verifyPin(PIN);
      return card.nextCode();
    });
  /** The card's CHALLENGE RESPONSE P1 01 answer as the terminal passes it on: index, remaining, flags, MAC. */
  const codeAnswer = async (challenge: string): Promise<{ hex: string; r: CodeChallengeResponse }> => {
    const r = await onCard(reader, async (card) => {
      await card.verifyPin(PIN);
      return card.challengeWithCode(Buffer.from(challenge, 'hex'));
    });
    const head = Buffer.alloc(5);
    head.writeUInt16BE(r.index, 0);
    head.writeUInt16BE(r.remaining, 2);
    head[4] = r.lowCodes ? 1 : 0;
    return { hex: Buffer.concat([head, r.mac]).toString('hex'), r };
  };
  const cardKeyAnswer = async (challenge: string): Promise<string> =>
    (await onCard(reader, (card) => card.challengeWithCardKey(Buffer.from(challenge, 'hex')))).toString('hex');
  const issue = async (): Promise<{ challengeId: string; challenge: string; expiresAt: string }> => {
    const r = await call(svc.url, '/v1/challenge', { key: challengeKey, body: { n: awaiting.record.n } });
    expect(r.status).toBe(200);
    return r.body as { challengeId: string; challenge: string; expiresAt: string };
  };
  const answer = (challengeId: string, hex: string) =>
    call(svc.url, '/v1/challenge/answer', { key: challengeKey, body: { challengeId, answer: hex } });
  const uses = () =>
    deskSql(ws).all<{ code_index: number }>(
      'SELECT u.code_index FROM code_uses u JOIN code_lists l ON l.id = u.list_ref WHERE l.card_ref = ? ORDER BY 1',
      awaiting.record.id,
    );
  const challengeRows = () => deskSql(ws).all('SELECT * FROM verify_challenges ORDER BY id');
  /** A desk call that waits out the reader monitor's own read of the card (CARD_BUSY). */
  const deskCall = async (op: TestOperator, channel: string, input: unknown): Promise<unknown> =>
    value(
      await withRetry(async () => {
        const r = await ws.router.dispatch(op.client, channel, input);
        if (!r.ok && r.error.code === 'CARD_BUSY') throw Object.assign(new Error('busy'), { code: 'CARD_BUSY' });
        return r;
      }),
    );

  beforeAll(async () => {
    bed = await useTestbed('clone');
    reader = bed.readerName(0);
    cloneReader = bed.readerName(1);
    desk = await cardDesk('pcsc');
    ws = desk.ws;
    clerk = await addOperator(ws, 'clerk');
    manager = await addOperator(ws, 'manager');
    await eventually(() => readers().snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    cardFile = createTestCard(bed.cardDir).file;
    await bed.insert(cardFile, 0);
    await eventually(
      () =>
        readers()
          .snapshot()
          .readers.some((r) => r.name === reader && r.cardPresent),
      'card present',
    );
    awaiting = await personaliseAwaiting(ws, reader);
    await deskCall(clerk, 'activation:activate', { reader, key: awaiting.mailerKey, pin: PIN, pinRepeat: PIN });
    svc = await startDeskService(ws, desk.dataDir, { now: () => new Date(Date.now() + ahead) });
    challengeKey = await svc.key('challenge');
    verifyKey = await svc.key('verify');
  }, 180_000);

  afterAll(async () => {
    await svc?.close();
    await desk?.dispose();
    await bed?.close();
  });

  it('a code answer computed by the card is accepted once and marks that code used; a replay is refused', async () => {
    const c = await issue();
    expect(c.challenge).toMatch(/^[0-9a-f]{32}$/);
    const { hex, r } = await codeAnswer(c.challenge);
    expect(r.index).toBe(1);
    const first = await answer(c.challengeId, hex);
    expect(first).toMatchObject({ status: 200, body: { result: 'accepted', mode: 'code', index: 1 } });
    expect(await uses()).toEqual([{ code_index: 1 }]);
    const before = { uses: await uses(), challenges: await challengeRows() };
    // The same answer again: the challenge is used up. On a fresh challenge: the MAC is over another one.
    expect((await answer(c.challengeId, hex)).body).toMatchObject({ result: 'rejected', reason: 'challenge_used' });
    const other = await issue();
    expect((await answer(other.challengeId, hex)).body).toMatchObject({ result: 'rejected', reason: 'wrong_code' });
    expect(await uses()).toEqual(before.uses);
    // An unknown challenge: refused, nothing changed.
    expect((await answer('0'.repeat(32), hex)).body).toMatchObject({ result: 'rejected', reason: 'unknown_challenge' });
    expect(JSON.stringify(await auditRows(ws))).not.toContain(r.mac.toString('hex'));
  });

  it('an expired challenge is refused with nothing changed; a malformed answer leaves the challenge open', async () => {
    const c = await issue();
    const bad = await answer(c.challengeId, 'zz'.repeat(21));
    expect(bad.status).toBe(400);
    expect(
      (await challengeRows()).find((x) => (x as { challenge_id: string }).challenge_id === c.challengeId),
    ).toMatchObject({
      answered_at: null,
    });
    ahead = 121_000;
    const before = { uses: await uses(), challenges: await challengeRows() };
    const dummy = `0001000000${'00'.repeat(16)}`; // well-formed, never computed: the expiry decides first
    expect((await answer(c.challengeId, dummy)).body).toMatchObject({
      result: 'rejected',
      reason: 'challenge_expired',
    });
    expect({ uses: await uses(), challenges: await challengeRows() }).toEqual(before);
    ahead = 0; // the service's clock back beside the desk's: events are ordered by time
  });

  it('ATTACK: 16 concurrent answers to one challenge are accepted once', async () => {
    const c = await issue();
    const { hex } = await codeAnswer(c.challenge);
    const answers = await Promise.all(Array.from({ length: 16 }, () => answer(c.challengeId, hex)));
    const bodies = answers.map((a) => a.body as { result: string; reason?: string });
    expect(bodies.filter((b) => b.result === 'accepted')).toHaveLength(1);
    expect(bodies.filter((b) => b.reason === 'challenge_used')).toHaveLength(15);
    expect(await uses()).toEqual([{ code_index: 1 }, { code_index: 2 }]);
  });

  it('the card-key answer proves the card holds K; a forged one is refused', async () => {
    const c = await issue();
    const mac = await cardKeyAnswer(c.challenge);
    expect((await answer(c.challengeId, mac)).body).toEqual({ result: 'accepted', mode: 'card' });
    const d = await issue();
    const forged = (await cardKeyAnswer(c.challenge)).replace(/^./, (x) => (x === '0' ? '1' : '0'));
    expect((await answer(d.challengeId, forged)).body).toMatchObject({ result: 'rejected', reason: 'wrong_answer' });
    expect(await uses()).toEqual([{ code_index: 1 }, { code_index: 2 }]); // no code used by a card-key answer
  });

  it('the desk compares the card’s authenticated counters with the server’s: in step, then the card ahead', async () => {
    const r = (await deskCall(clerk, 'clone:compareCounters', { reader })) as Record<string, unknown>;
    expect(r).toMatchObject({ verdict: 'in_step', listSeq: 1, cardUsed: 2, serverUsed: 2, drift: 0 });
    // A code read and never typed: the card is ahead of the server — shown, and no suspicion.
    expect((await nextCode()).index).toBe(3);
    const ahead = (await deskCall(clerk, 'clone:compareCounters', { reader })) as Record<string, unknown>;
    expect(ahead).toMatchObject({ verdict: 'card_ahead', cardUsed: 3, serverUsed: 2, drift: -1, suspicionId: null });
    expect(await deskSql(ws).get('SELECT COUNT(*) AS n FROM suspicion_events')).toEqual({ n: 0 });
  });

  it('FIG. 5–7: a clone used first, then the genuine card: refused, the drift flagged, the table disabled', async () => {
    // The copy: the card's whole state (K, PIN, list, counters) at this moment, in the second reader.
    const cloneFile = join(bed.cardDir, 'clone-of-genuine.json');
    copyFileSync(cardFile, cloneFile);
    await bed.insert(cloneFile, 1);
    await eventually(
      () =>
        readers()
          .snapshot()
          .readers.some((r) => r.name === cloneReader && r.cardPresent),
      'clone present',
    );
    // FIG. 5: the copy's codes 4 to 7 are verified by the bank before the genuine card is used again.
    for (const expected of [4, 5, 6, 7]) {
      const code = await nextCode(cloneReader);
      expect(code.index).toBe(expected);
      const r = await call(svc.url, '/v1/verify', { key: verifyKey, body: { n: awaiting.record.n, code: code.code } });
      expect(r.body).toMatchObject({ result: 'accepted', index: expected });
    }
    // FIG. 6: the genuine card gives its next code, 4 — the server has it used.
    const genuine = await nextCode(reader);
    expect(genuine.index).toBe(4);
    const refused = await call(svc.url, '/v1/verify', {
      key: verifyKey,
      body: { n: awaiting.record.n, code: genuine.code },
    });
    expect(refused.body).toMatchObject({ result: 'rejected', reason: 'already_used' });
    let events = (await deskCall(clerk, 'clone:suspicions', { n: awaiting.record.n })) as {
      events: { id: number; kind: string; codeIndex: number | null; drift: number | null; source: string }[];
    };
    expect(events.events[0]).toMatchObject({ kind: 'code_replayed', codeIndex: 4 });
    expect(events.events[0]?.source).toMatch(/^client:[0-9a-f]{16}$/);

    // FIG. 7: the genuine card at the desk: 4 codes given out, the server accepted 6 — drift 2.
    const compared = (await deskCall(clerk, 'clone:compareCounters', { reader })) as Record<string, unknown>;
    expect(compared).toMatchObject({ verdict: 'probable_clone', cardUsed: 4, serverUsed: 6, drift: 2, listSeq: 1 });
    // Presented again: the same open event, not a second one.
    const again = (await deskCall(clerk, 'clone:compareCounters', { reader })) as Record<string, unknown>;
    expect(again.suspicionId).toBe(compared.suspicionId);
    events = (await deskCall(clerk, 'clone:suspicions', { n: awaiting.record.n })) as typeof events;
    expect(events.events.map((e) => [e.kind, e.drift])).toEqual([
      ['counter_drift', 2],
      ['code_replayed', null],
    ]);

    // ATTACK: a clerk may not disable the table; nothing changes.
    const denied = await ws.router.dispatch(clerk.client, 'clone:disableTable', { n: awaiting.record.n, seq: 1 });
    expect(denied.ok).toBe(false);
    // A stale confirmation (another table's seq) is refused too.
    const stale = await ws.router.dispatch(manager.client, 'clone:disableTable', { n: awaiting.record.n, seq: 2 });
    expect(stale).toMatchObject({ ok: false, error: { code: 'CLONE_TABLE_CHANGED' } });
    expect(await deskSql(ws).all('SELECT state FROM code_lists WHERE card_ref = ?', awaiting.record.id)).toEqual([
      { state: 'active' },
    ]);

    const disabled = await deskCall(manager, 'clone:disableTable', { n: awaiting.record.n, seq: 1 });
    expect(disabled).toEqual({ n: awaiting.record.n, seq: 1, resolved: 2 });
    events = (await deskCall(clerk, 'clone:suspicions', { n: awaiting.record.n })) as typeof events;
    expect(events.events.every((e) => (e as unknown as { resolution: string }).resolution === 'table_disabled')).toBe(
      true,
    );

    // The copy's next code is refused as a disabled table's, and raises disabled_table_used.
    const late = await nextCode(cloneReader);
    const r = await call(svc.url, '/v1/verify', { key: verifyKey, body: { n: awaiting.record.n, code: late.code } });
    expect(r.body).toMatchObject({ result: 'rejected', reason: 'table_disabled' });
    events = (await deskCall(clerk, 'clone:suspicions', { n: awaiting.record.n })) as typeof events;
    expect(events.events[0]).toMatchObject({ kind: 'disabled_table_used', resolution: null });
    const actions = (await auditRows(ws)).map((a) => a.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'verification.suspicion',
        'clone.counters_compared',
        'lists.disabled',
        'clone.table_disabled',
      ]),
    );
    await bed.remove(1);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { cardRow } from '../../support/cards';
import { addOperator, auditRows, value, type TestOperator } from '../../support/operators';
import { cardWithCodes, engineDeskWithKeystore, type EngineDesk } from '../../support/verify-service';

// Issue 11 item 1: a report blocks the card and withdraws its table in one step, so core verify (the
// verification service's own path) refuses the card's next code as card_blocked from that moment; a
// second report answers with the open case; only support staff and above may report.

describe('reporting a card lost, stolen, damaged or suspected cloned', () => {
  let desk: EngineDesk;
  let ws: DeskWorkstation;
  let support: TestOperator;
  let clerk: TestOperator;
  const report = (op: TestOperator, input: unknown) => ws.router.dispatch(op.client, 'support:report', input);
  const cardState = async (id: number) =>
    (await desk.sql.get<{ state: string }>('SELECT state FROM cards WHERE id = ?', id))?.state;
  const listState = async (id: number) =>
    (await desk.sql.get<{ state: string }>('SELECT state FROM code_lists WHERE id = ?', id))?.state;
  const cases = () => desk.sql.all('SELECT id, card_ref, reason, state FROM support_cases ORDER BY id');

  beforeAll(async () => {
    desk = await engineDeskWithKeystore();
    ws = desk.ws;
    support = await addOperator(ws, 'support');
    clerk = await addOperator(ws, 'clerk');
  }, 60_000);
  afterAll(async () => desk?.dispose());

  it('needs the support role or above: a clerk is refused and nothing changes', async () => {
    const { card, list, codes } = await cardWithCodes(ws);
    const before = { cases: await cases(), card: await cardState(card.id), list: await listState(list.id) };
    const r = await report(clerk, { n: card.n, reason: 'lost' });
    expect(r).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect({ cases: await cases(), card: await cardState(card.id), list: await listState(list.id) }).toEqual(before);
    expect(await ws.verification.verify(card.n, codes[0] ?? '')).toMatchObject({ accepted: true });
  });

  it('blocks the card and disables its table at once: verify refuses the next code as card_blocked; audited with reason and operator', async () => {
    const { card, list, codes } = await cardWithCodes(ws);
    expect(await ws.verification.verify(card.n, codes[0] ?? '')).toMatchObject({ accepted: true });
    const opened = value(
      await report(support, { n: card.n, reason: 'stolen', note: 'taken from a bag at the station' }),
    ) as {
      case: { id: number; state: string; step: string; cardState: string };
      created: boolean;
    };
    expect(opened).toMatchObject({ created: true, case: { state: 'reported', step: 'send', cardState: 'blocked' } });
    expect(await cardState(card.id)).toBe('blocked');
    expect(await listState(list.id)).toBe('disabled');
    expect(await ws.verification.verify(card.n, codes[1] ?? '')).toEqual({ accepted: false, reason: 'card_blocked' });
    const audit = await auditRows(ws);
    expect(audit).toContainEqual(
      expect.objectContaining({
        action: 'support.reported',
        outcome: 'ok',
        operator: support.username,
        object: `card:${card.n}`,
      }),
    );
    const entry = audit.find((a) => a.action === 'support.reported' && a.object === `card:${card.n}`);
    expect(JSON.parse(entry?.details ?? '{}')).toMatchObject({
      case: opened.case.id,
      reason: 'stolen',
      cardWas: 'active',
      listsDisabled: '1',
    });
    expect(audit).toContainEqual(expect.objectContaining({ action: 'lists.disabled', object: `card:${card.n}` }));
    // verify itself raised its suspicion for the blocked card's code
    const events = await desk.sql.repos.verificationEvents.suspicionsForCard(card.id);
    expect(events.map((e) => e.kind)).toContain('blocked_card_used');
  });

  it('a second report answers with the open case, also when ten arrive at once; nothing else changes', async () => {
    const { card } = await cardWithCodes(ws);
    const first = value(await report(support, { n: card.n, reason: 'lost' })) as { case: { id: number } };
    const auditBefore = (await auditRows(ws)).length;
    const again = value(await report(support, { n: card.n, reason: 'damaged' })) as {
      case: { id: number; reason: string };
      created: boolean;
    };
    expect(again).toMatchObject({ created: false, case: { id: first.case.id, reason: 'lost' } });
    expect((await auditRows(ws)).length).toBe(auditBefore);

    const other = await cardWithCodes(ws);
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => report(support, { n: other.card.n, reason: 'lost' })),
    );
    const made = burst.map((r) => value(r) as { case: { id: number }; created: boolean });
    expect(made.filter((m) => m.created)).toHaveLength(1);
    expect(new Set(made.map((m) => m.case.id)).size).toBe(1);
    expect(
      (await auditRows(ws)).filter((a) => a.action === 'support.reported' && a.object === `card:${other.card.n}`),
    ).toHaveLength(1);
  });

  it('from a suspicion event: the event is settled as card_reported; an event of another card is refused, nothing changed', async () => {
    const { card } = await cardWithCodes(ws);
    const events = desk.sql.repos.verificationEvents;
    const raised = await events.raise({
      cardRef: card.id,
      listRef: null,
      kind: 'code_replayed',
      source: 'desk',
      at: new Date().toISOString(),
    });
    const stranger = await cardWithCodes(ws);
    const foreign = await events.raise({
      cardRef: stranger.card.id,
      listRef: null,
      kind: 'code_replayed',
      source: 'desk',
      at: new Date().toISOString(),
    });
    expect(await report(support, { n: card.n, reason: 'suspected_clone', suspicionId: foreign.id })).toMatchObject({
      ok: false,
      error: { code: 'SUSPICION_UNKNOWN' },
    });
    expect(await cardState(card.id)).toBe('active');
    value(await report(support, { n: card.n, reason: 'suspected_clone', suspicionId: raised.id }));
    const after = await events.suspicionsForCard(card.id);
    expect(after.find((e) => e.id === raised.id)).toMatchObject({
      resolution: 'card_reported',
      resolvedBy: support.username,
    });
    expect((await events.suspicionsForCard(stranger.card.id)).find((e) => e.id === foreign.id)?.resolution).toBeNull();
  });

  it('refuses a card that is not active or awaiting activation, with what to do, and opens no case', async () => {
    const { card } = await cardRow(desk.sql.repos, { state: 'terminated' });
    const before = await cases();
    const r = await report(support, { n: card.n, reason: 'lost' });
    expect(r).toMatchObject({ ok: false, error: { code: 'SUPPORT_CARD_NOT_BLOCKABLE' } });
    expect(await cases()).toEqual(before);
    expect(await cardState(card.id)).toBe('terminated');
    expect(await report(support, { n: 'N-NO-SUCH', reason: 'lost' })).toMatchObject({
      ok: false,
      error: { code: 'CARD_UNKNOWN' },
    });
  });
});

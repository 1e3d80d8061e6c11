import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardRow } from '../../support/cards';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';

// lists:forCard and lists:requestRefill through the real router: roles, validation, audit, and one
// list on its way per card however many desks ask at once.

describe('lists:* channels', () => {
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let ws: DeskWorkstation;
  let manager: TestOperator;
  let clerk: TestOperator;
  let support: TestOperator;
  let auditor: TestOperator;
  const call = (who: TestOperator, channel: string, input: unknown = {}) =>
    ws.router.dispatch(who.client, channel, input);

  async function activeCard(): Promise<{ id: number; n: string }> {
    const { card } = await cardRow(t.sql.repos);
    return { id: card.id, n: card.n };
  }

  const listRows = () => t.sql.all('SELECT * FROM code_lists ORDER BY id');

  beforeAll(async () => {
    t = await freshWorkstation();
    ws = t.ws;
    await setupOfficer(ws);
    await addOperator(ws, 'security_officer');
    manager = await addOperator(ws, 'manager');
    clerk = await addOperator(ws, 'clerk');
    support = await addOperator(ws, 'support');
    auditor = await addOperator(ws, 'auditor');
  });
  afterAll(() => t.dispose());

  it('a manager queues the next list once; the card readers see its state and counts', async () => {
    const card = await activeCard();
    expect(value(await call(clerk, 'lists:forCard', { n: card.n }))).toEqual({
      n: card.n,
      cardState: 'active',
      lists: [],
    });
    const first = value(await call(manager, 'lists:requestRefill', { n: card.n })) as {
      created: boolean;
      list: object;
    };
    expect(first).toMatchObject({
      created: true,
      list: {
        seq: 1,
        state: 'prepared',
        trigger: 'manual',
        length: DEFAULT_POLICIES.listLength,
        digits: DEFAULT_POLICIES.codeDigits,
        used: 0,
        remaining: DEFAULT_POLICIES.listLength,
        refillDue: false,
      },
    });
    expect(value(await call(support, 'lists:requestRefill', { n: card.n }))).toMatchObject({
      created: false,
      list: { seq: 1 },
    });
    for (const who of [clerk, auditor, manager, support]) {
      expect(value(await call(who, 'lists:forCard', { n: card.n }))).toMatchObject({
        lists: [{ seq: 1, state: 'prepared' }],
      });
    }
    const mine = (await auditRows(ws)).filter((r) => r.object === `card:${card.n}`);
    expect(mine.filter((r) => r.action === 'lists.refill_requested')).toHaveLength(2);
    expect(mine.filter((r) => r.action === 'lists.queued')).toHaveLength(1);
  });

  it('refuses the wrong role, an unknown or malformed N, changing nothing', async () => {
    const card = await activeCard();
    const before = await listRows();
    for (const who of [clerk, auditor])
      expect(await call(who, 'lists:requestRefill', { n: card.n })).toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
    expect(await call(manager, 'lists:requestRefill', { n: 'N-NOBODY' })).toMatchObject({
      ok: false,
      error: { code: 'CARD_UNKNOWN' },
    });
    for (const n of ['', 'N 1', 'x'.repeat(65), 42])
      expect(await call(manager, 'lists:requestRefill', { n })).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION' },
      });
    expect(await call(manager, 'lists:requestRefill', { n: card.n, extra: 1 })).toMatchObject({ ok: false });
    expect(await listRows()).toEqual(before);
  });

  it('ATTACK: 30 desks asking at once queue one list', async () => {
    const card = await activeCard();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call(i % 2 ? manager : support, 'lists:requestRefill', { n: card.n })),
    );
    const created = results.map((r) => (value(r) as { created: boolean }).created);
    expect(created.filter(Boolean)).toHaveLength(1);
    expect((await listRows()).filter((r) => (r as { card_ref: number }).card_ref === card.id)).toHaveLength(1);
  });

  it('verify is served by the workstation: a card without a list is refused with nothing changed', async () => {
    const card = await activeCard();
    const before = await listRows();
    expect(await ws.verification.verify(card.n, '123456')).toEqual({ accepted: false, reason: 'no_active_list' });
    expect(await ws.verification.verify('N-NOBODY', '123456')).toEqual({ accepted: false, reason: 'unknown_n' });
    expect(await listRows()).toEqual(before);
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../../src/core/db/database';
import { SqliteUsageRepository } from '../../../src/core/usage/usage.repository';
import type { UsageFilter, UsageRow, UsageSort } from '../../../src/shared/contract/usage.contract';
import { seedUsage, type SeededCard, type UsageSeed } from '../../support/usage-seed';

// The usage review's figures against values computed by hand (a small history written here) and
// against an independent computation over a generated history of 1,500 cards (paging, sorting,
// every filter), and the query plans: every query reaches the event tables through an index.

const T = (day: string, time = '12:00:00') => `${day}T${time}.000Z`;

function handHistory(db: Database) {
  const ins = (sql: string, ...p: unknown[]) => (db.prepare(sql + ' RETURNING id').get(...p) as { id: number }).id;
  const customer = (name: string, ref: string, branch: string) =>
    ins(
      `INSERT INTO customers (customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch, created_at, created_by, updated_at)
       VALUES (?, ?, lower(?), 'a', '1', 'c', 'CH', ?, ?, 't', ?)`,
      ref,
      name,
      name,
      branch,
      T('2026-01-01'),
      T('2026-01-01'),
    );
  const card = (cardId: string, customerId: number, n: string) =>
    ins(
      `INSERT INTO cards (card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at) VALUES (?, ?, ?, 'active', ?, 't', ?)`,
      cardId,
      customerId,
      n,
      T('2026-01-01'),
      T('2026-01-01'),
    );
  let serial = 0;
  const list = (cardRef: number, state: string, length: number, used: number, due: number) =>
    ins(
      `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state, queued_by_trigger, mk_version,
         sealed_for, body_hash, next_index, used_count, refill_due, created_at, created_by, state_changed_at)
       VALUES (?, ?, ?, ?, 8, 5, '2030-01-01', ?, 'first', 1, 'card-key', ?, ?, ?, ?, '2026-01-01', 't', '2026-01-01')`,
      cardRef,
      ++serial,
      String(serial).padStart(32, '0'),
      length,
      state,
      'cd'.repeat(32),
      used + 1,
      used,
      due,
    );
  const use = (listRef: number, index: number, at: string) =>
    db.prepare('INSERT INTO code_uses (list_ref, code_index, used_at) VALUES (?, ?, ?)').run(listRef, index, at);
  const reject = (cardRef: number | null, reason: string, at: string) =>
    db
      .prepare("INSERT INTO verify_rejections (card_ref, reason, source, at) VALUES (?, ?, 'desk', ?)")
      .run(cardRef, reason, at);
  const suspect = (cardRef: number, kind: string, drift: number | null, at: string, resolved: boolean) =>
    db
      .prepare(
        `INSERT INTO suspicion_events (card_ref, kind, drift, source, occurred_at, resolved_at, resolved_by, resolution)
         VALUES (?, ?, ?, 'desk', ?, ?, ?, ?)`,
      )
      .run(cardRef, kind, drift, at, resolved ? at : null, resolved ? 'm' : null, resolved ? 'dismissed' : null);

  const ada = customer('Ada Lovelace', 'C-1', 'Bern');
  const alan = customer('Alan Turing', 'C-2', 'Zurich');
  const a1 = card('CARD-A1', ada, 'NA1');
  const a2 = card('CARD-A2', ada, 'NA2');
  const t1 = card('CARD-T1', alan, 'NT1');
  // Ada's first card: a used-up list (10 of 10) and an active one (3 of 10 used, 7 left, not due).
  const a1old = list(a1, 'superseded', 10, 10, 0);
  const a1new = list(a1, 'active', 10, 3, 0);
  // Her second card: active, 8 of 10 used: 2 left, refill due. A prepared list is not issued yet.
  const a2l = list(a2, 'active', 10, 8, 1);
  list(a2, 'prepared', 10, 0, 0);
  // Alan's: active, 1 of 20 used.
  const t1l = list(t1, 'active', 20, 1, 0);
  for (let i = 1; i <= 10; i++) use(a1old, i, T('2026-02-28')); // before the range
  use(a1new, 1, T('2026-03-01', '08:00:00'));
  use(a1new, 2, T('2026-03-01', '23:59:59'));
  use(a1new, 3, T('2026-03-02'));
  for (let i = 1; i <= 8; i++) use(a2l, i, T('2026-03-02'));
  use(t1l, 1, T('2026-03-04')); // after the range
  reject(a1, 'already_used', T('2026-03-01'));
  reject(a1, 'already_used', T('2026-03-02'));
  reject(a2, 'wrong_code', T('2026-03-02'));
  reject(t1, 'wrong_code', T('2026-03-03'));
  reject(null, 'unknown_n', T('2026-03-01'));
  suspect(a1, 'code_replayed', null, T('2026-03-01'), false);
  suspect(a1, 'counter_drift', 4, T('2026-03-01', '10:00:00'), true);
  suspect(a1, 'counter_drift', 2, T('2026-03-02'), false); // the later comparison is the card's drift
  suspect(t1, 'counter_drift', 0, T('2026-03-03'), false);
  return { a1, a2, t1 };
}

describe('usage repository: hand-computed history', () => {
  const db = openDatabase(':memory:');
  handHistory(db);
  const repo = new SqliteUsageRepository(db);
  const march = { from: '2026-03-01', to: '2026-03-02' } satisfies UsageFilter;

  it('summarises issued, used, remaining, refills due and the range’s uses, refusals and suspicions', async () => {
    const s = await repo.summary(march);
    expect(s).toMatchObject({
      cards: 3,
      issued: 10 + 10 + 10 + 20, // delivered lists only: not the prepared one
      used: 10 + 3 + 8 + 1,
      remaining: 7 + 2 + 19,
      refillsDue: 1,
      usesInRange: 3 + 8, // 1 and 2 March: not February's, not the 4th
      rejections: 4, // 3 by cards + 1 unknown N; not the 3rd
      suspicions: 3,
      openSuspicions: 2,
      maxDrift: 2, // Ada: latest is 2 (4 was superseded); Alan: 0
    });
    expect(s.rejectionsByReason.sort((a, b) => a.reason.localeCompare(b.reason))).toEqual([
      { reason: 'already_used', count: 2 },
      { reason: 'unknown_n', count: 1 },
      { reason: 'wrong_code', count: 1 },
    ]);
    expect(s.perDay).toEqual([
      {
        day: '2026-03-01',
        uses: 2,
        rejections: expect.arrayContaining([
          { reason: 'already_used', count: 1 },
          { reason: 'unknown_n', count: 1 },
        ]) as unknown,
      },
      {
        day: '2026-03-02',
        uses: 9,
        rejections: expect.arrayContaining([
          { reason: 'already_used', count: 1 },
          { reason: 'wrong_code', count: 1 },
        ]) as unknown,
      },
    ]);
    expect(s.byBranch).toEqual([
      { branch: 'Bern', cards: 2, remaining: 9, refillsDue: 1 },
      { branch: 'Zurich', cards: 1, remaining: 19, refillsDue: 0 },
    ]);
  });

  it('narrows by branch (an unknown N belongs to none), by search and by reason', async () => {
    expect(await repo.summary({ ...march, branch: 'Zurich' })).toMatchObject({
      cards: 1,
      remaining: 19,
      usesInRange: 0,
      rejections: 0,
      maxDrift: 0,
    });
    expect(await repo.summary({ ...march, q: 'lovelace' })).toMatchObject({ cards: 2, rejections: 3, usesInRange: 11 });
    expect(await repo.summary({ ...march, q: 'NA2' })).toMatchObject({ cards: 1, issued: 10, usesInRange: 8 });
    expect(await repo.summary({ ...march, q: 'card-t1' })).toMatchObject({ cards: 1, remaining: 19 });
    const wrong = await repo.rows({
      filter: { ...march, reason: 'wrong_code' },
      by: 'card',
      sort: 'key',
      desc: false,
      page: 1,
      pageSize: 10,
    });
    expect(wrong.rows.map((r) => [r.cardId, r.rejections])).toEqual([['CARD-A2', 1]]);
    expect((await repo.summary({ ...march, reason: 'unknown_n' })).rejections).toBe(1);
  });

  it('gives a row per card, per customer and per branch', async () => {
    const page = async (by: 'card' | 'customer' | 'branch') =>
      (await repo.rows({ filter: march, by, sort: 'key', desc: false, page: 1, pageSize: 10 })).rows;
    const cards = await page('card');
    expect(
      cards.map((r) => [
        r.cardId,
        r.issued,
        r.used,
        r.remaining,
        r.refillsDue,
        r.usesInRange,
        r.rejections,
        r.suspicions,
        r.openSuspicions,
        r.drift,
      ]),
    ).toEqual([
      ['CARD-A1', 20, 13, 7, 0, 3, 2, 3, 2, 2],
      ['CARD-A2', 10, 8, 2, 1, 8, 1, 0, 0, null],
      ['CARD-T1', 20, 1, 19, 0, 0, 0, 0, 0, 0],
    ]);
    const customers = await page('customer');
    expect(
      customers.map((r) => [r.customerRef, r.cards, r.issued, r.remaining, r.usesInRange, r.rejections, r.drift]),
    ).toEqual([
      ['C-1', 2, 30, 9, 11, 3, 2],
      ['C-2', 1, 20, 19, 0, 0, 0],
    ]);
    const branches = await page('branch');
    expect(branches.map((r) => [r.key, r.cards, r.used, r.refillsDue])).toEqual([
      ['Bern', 2, 21, 1],
      ['Zurich', 1, 1, 0],
    ]);
  });

  it('lists suspicion events newest first, open ones alone on request', async () => {
    const all = await repo.suspicions(march, false, 1, 10);
    expect(all.total).toBe(3);
    expect(all.rows.map((r) => [r.kind, r.drift, r.resolution])).toEqual([
      ['counter_drift', 2, null],
      ['code_replayed', null, null], // 12:00 on the 1st
      ['counter_drift', 4, 'dismissed'], // 10:00 on the 1st
    ]);
    expect((await repo.suspicions({}, true, 1, 10)).rows.map((r) => r.cardId)).toEqual([
      'CARD-T1',
      'CARD-A1',
      'CARD-A1',
    ]);
  });
});

// An independent computation of a card's row from the seed's own records.
function expectedRow(c: SeededCard, seed: UsageSeed, f: UsageFilter) {
  const from = f.from ? `${f.from}T00:00:00.000Z` : '0';
  const to = f.to ? `${f.to}T99` : '9';
  const inRange = (at: string) => at >= from && at < to;
  const delivered = c.lists.filter((l) => l.state !== 'prepared');
  const active = c.lists.filter((l) => l.state === 'active');
  const sus = seed.suspicions.filter((s) => s.cardRef === c.id && inRange(s.occurredAt));
  const drifts = seed.suspicions.filter((s) => s.cardRef === c.id && s.kind === 'counter_drift');
  return {
    key: c.cardId,
    customer: c.customer,
    branch: c.branch,
    issued: delivered.reduce((a, l) => a + l.length, 0),
    used: delivered.reduce((a, l) => a + l.used, 0),
    remaining: active.reduce((a, l) => a + l.length - l.used, 0),
    refillsDue: active.filter((l) => l.refillDue).length,
    usesInRange: c.uses.filter(inRange).length,
    rejections: seed.rejections.filter(
      (r) => r.cardRef === c.id && inRange(r.at) && (!f.reason || r.reason === f.reason),
    ).length,
    suspicions: sus.length,
    openSuspicions: sus.filter((s) => !s.resolved).length,
    drift: drifts.length ? drifts.sort((a, b) => (a.occurredAt < b.occurredAt ? 1 : -1))[0]!.drift : null,
  };
}

describe('usage repository: a generated history of 1,500 cards', () => {
  let db: Database;
  let repo: SqliteUsageRepository;
  let seed: UsageSeed;
  const filter: UsageFilter = { from: '2026-11-05', to: '2026-11-20' };
  beforeAll(() => {
    db = openDatabase(':memory:');
    seed = seedUsage(db, { cards: 1500 });
    repo = new SqliteUsageRepository(db);
  });

  const pick = (r: UsageRow) => ({
    key: r.key,
    customer: r.customer,
    branch: r.branch,
    issued: r.issued,
    used: r.used,
    remaining: r.remaining,
    refillsDue: r.refillsDue,
    usesInRange: r.usesInRange,
    rejections: r.rejections,
    suspicions: r.suspicions,
    openSuspicions: r.openSuspicions,
    drift: r.drift,
  });

  it.each<[UsageSort, boolean, UsageFilter]>([
    ['key', false, filter],
    ['usesInRange', true, filter],
    ['remaining', false, { ...filter, branch: 'Geneva' }],
    ['rejections', true, { ...filter, reason: 'wrong_code' }],
    ['customer', false, { q: 'grace' }],
  ])('pages sorted by %s (desc %s) with %j: every row as computed, in a stable order', async (sort, desc, f) => {
    const keep = seed.cards.filter(
      (c) =>
        (!f.branch || c.branch === f.branch) &&
        (!f.q ||
          c.customer
            .toLowerCase()
            .split(' ')
            .some((w) => w.startsWith(f.q!))) &&
        (!f.reason || expectedRow(c, seed, f).rejections > 0),
    );
    const want = keep.map((c) => expectedRow(c, seed, f));
    const col = (r: (typeof want)[number]) =>
      sort === 'key' ? r.key : sort === 'customer' ? r.customer.toLowerCase() : (r[sort as keyof typeof r] as number);
    want.sort((a, b) => {
      const x = col(a);
      const y = col(b);
      const c = x < y ? -1 : x > y ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      return desc ? -c : c;
    });
    const got: ReturnType<typeof pick>[] = [];
    let total = -1;
    for (let page = 1; ; page++) {
      const p = await repo.rows({ filter: f, by: 'card', sort, desc, page, pageSize: 97 });
      total = p.total;
      got.push(...p.rows.map(pick));
      if (p.rows.length < 97) break;
    }
    expect(want.length).toBeGreaterThan(10);
    expect(total).toBe(want.length);
    expect(got).toEqual(want);
  });

  it('groups by branch and customer to the sums of their cards', async () => {
    const branches = (await repo.rows({ filter, by: 'branch', sort: 'used', desc: true, page: 1, pageSize: 10 })).rows;
    const want = seed.branches
      .map((b) => {
        const rows = seed.cards.filter((c) => c.branch === b).map((c) => expectedRow(c, seed, filter));
        return {
          key: b,
          cards: rows.length,
          used: rows.reduce((a, r) => a + r.used, 0),
          uses: rows.reduce((a, r) => a + r.usesInRange, 0),
        };
      })
      .sort((a, b) => b.used - a.used);
    expect(branches.map((r) => ({ key: r.key, cards: r.cards, used: r.used, uses: r.usesInRange }))).toEqual(want);
    const customers = await repo.rows({ filter, by: 'customer', sort: 'key', desc: false, page: 3, pageSize: 50 });
    expect(customers.total).toBe(1500);
    expect(customers.rows[0]!.customerRef).toBe(seed.cards[100]!.customerRef);
  });

  it('streams every row of the export in key order, in batches', async () => {
    const f: UsageFilter = { ...filter, branch: 'Bern' };
    const streamed: UsageRow[] = [];
    let batches = 0;
    for await (const b of repo.batches(f, 'card', 128)) {
      batches++;
      streamed.push(...b);
    }
    const want = seed.cards
      .filter((c) => c.branch === 'Bern')
      .map((c) => expectedRow(c, seed, f))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    expect(streamed.map(pick)).toEqual(want);
    expect(batches).toBe(Math.ceil(want.length / 128));
  });

  it('reaches the event and use tables only through indexes (EXPLAIN QUERY PLAN)', async () => {
    const seen: { sql: string; params: unknown[] }[] = [];
    const recording = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop === 'prepare')
          return (sql: string) => {
            const stmt = target.prepare(sql);
            return {
              all: (...params: unknown[]) => (seen.push({ sql, params }), stmt.all(...params)),
              get: (...params: unknown[]) => (seen.push({ sql, params }), stmt.get(...params)),
              // The daily rollup's fold writes (usage-rollup.ts); its statements are explained too.
              run: (...params: unknown[]) => (seen.push({ sql, params }), stmt.run(...params)),
            };
          };
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const r = new SqliteUsageRepository(recording);
    for (const f of [filter, { ...filter, branch: 'Bern', reason: 'already_used' as const }, { q: 'N000000042' }]) {
      await r.summary(f);
      await r.rows({ filter: f, by: 'card', sort: 'key', desc: false, page: 2, pageSize: 50 });
      await r.rows({ filter: f, by: 'customer', sort: 'rejections', desc: true, page: 1, pageSize: 50 });
      await r.suspicions(f, true, 1, 50);
    }
    expect(seen.length).toBeGreaterThan(20);
    const fullScans: string[] = [];
    for (const q of seen) {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params) as { detail: string }[];
      for (const { detail } of plan) {
        // A bare SCAN of a use or event table reads all of it: 20 million rows at scale.
        if (/^SCAN (code_uses|verify_rejections|suspicion_events|u|r|s|s2)\b(?! USING)/.test(detail))
          fullScans.push(`${detail} :: ${q.sql.slice(0, 80)}`);
      }
    }
    expect(fullScans).toEqual([]);
    // A card's refusals are found from the card (card_ref first), never by walking every refusal of a reason.
    const perCardByReason = seen.filter(
      (q) =>
        q.sql.includes('r.card_ref = c.id') &&
        (db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params) as { detail: string }[]).some((p) =>
          p.detail.includes('verify_rejections_by_reason'),
        ),
    );
    expect(perCardByReason.map((q) => q.sql.slice(0, 120))).toEqual([]);
    // And the range queries use the new indexes.
    const plans = seen.map((q) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params) as { detail: string }[])
        .map((p) => p.detail)
        .join(' | '),
    );
    expect(plans.some((p) => p.includes('code_uses_by_time'))).toBe(true);
    expect(
      plans.some((p) => p.includes('verify_rejections_by_reason') || p.includes('verify_rejections_by_time')),
    ).toBe(true);
  });
});

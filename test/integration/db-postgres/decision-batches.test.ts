import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase, type PgQueryable } from '../../../src/core/db/pg/pg-database';
import { pgRepositories, type IssuerRepositories } from '../../../src/core/db/repositories';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import { PgPolicySource } from '../../../src/core/policy/policy-source.pg';
import { decisionSql, PgDecisionStore } from '../../../src/core/verification/verification-store.pg';
import type { KnownUse } from '../../../src/core/verification/verification.service';
import { startPostgres, type TestPostgres } from '../../support/postgres';
import { pgIssuer, verificationOn, type PgIssuer } from '../../support/verify-service-pg';
import { deskWithKeystore, type Desk } from '../../support/verify-service';

// Reads and use marks in batches on PostgreSQL (verification-store.pg.ts, StatementBatcher): what is
// asked for while earlier statements are out goes together as one statement. A batched read must
// answer each request as the read alone would. What a mark decides must not change:
// each row of a batch is the same conditional UPDATE as a mark alone, so a use whose condition fails
// writes nothing while the others of its batch are marked; a list is never twice in one batch;
// exactly-once holds across batches and instances; a batch the server refuses is decided mark by
// mark, and a lost connection is told to every mark of its batch, none written.

describe('reads and use marks in batches on PostgreSQL', () => {
  let server: TestPostgres;
  let desk: Desk;
  let db: PgDatabase;
  let repos: IssuerRepositories;
  let issuer: PgIssuer;
  let url: string;
  const at = () => new Date().toISOString();
  const count = async (sql: string, params: unknown[]) =>
    (await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${sql}`, params))[0]?.n;

  /** Every statement a store runs, with its parameters; `refuse` may throw instead of running it. */
  const recorded = (on: PgQueryable, refuse?: (sql: string) => Error | null) => {
    const statements: { sql: string; params: readonly unknown[] }[] = [];
    const q: PgQueryable = {
      query: (sql, params = []) => {
        statements.push({ sql, params });
        const err = refuse?.(sql);
        return err ? Promise.reject(err) : on.query(sql, params);
      },
    };
    return { q, statements, batches: () => statements.filter((s) => s.sql === decisionSql.batch) };
  };

  beforeAll(async () => {
    server = await startPostgres();
    url = server.url(await server.createDatabase());
    db = new PgDatabase({ url, maxConnections: 16, preparedStatements: true });
    await migratePg(db);
    desk = await deskWithKeystore();
    issuer = await pgIssuer(desk, url);
    repos = pgRepositories(db, new PgAuditTrail(new PgAuditLog(db)));
  }, 120_000);

  afterAll(async () => {
    await issuer?.close();
    await db?.close();
    await desk?.dispose();
    server?.stop();
  }, 60_000);

  const cards = (n: number) => Promise.all(Array.from({ length: n }, () => issuer.cardWithCodes()));

  it('marks asked for at once go as one statement: each marked once, with its use row', async () => {
    const made = await cards(12);
    const { q, statements, batches } = recorded(db);
    const store = new PgDecisionStore(q, new PgPolicySource(db));
    const marks = await Promise.all(made.map(({ list }) => store.accept(list.id, 1, 10, at(), false)));
    expect(marks.map((m) => m?.list.id)).toEqual(made.map(({ list }) => list.id));
    expect(marks.every((m) => m?.index === 1 && m.list.nextIndex === 2 && m.list.usedCount === 1)).toBe(true);
    expect(statements).toHaveLength(1);
    expect(batches()).toHaveLength(1);
    for (const { list } of made) {
      expect(await count('code_uses WHERE list_ref = ? AND code_index = 1', [list.id])).toBe(1);
      expect(await repos.lists.byId(list.id)).toMatchObject({ nextIndex: 2, usedCount: 1 });
    }
    // A mark on its own is its own statement, as before batches.
    const one = await store.accept(made[0]!.list.id, 2, 10, at(), false);
    expect(one).toMatchObject({ index: 2 });
    expect(statements.at(-1)?.sql).toBe(decisionSql.accept);
  });

  it('reads asked for at once are one SELECT, each answered as the read alone: cards, an unknown N, a revoked key', async () => {
    const made = await cards(6);
    const live = await issuer.core.clients.create({ name: 'live', scopes: ['verify'], by: 'test' });
    const gone = await issuer.core.clients.create({ name: 'gone', scopes: ['verify'], by: 'test' });
    await repos.verifyClients.revoke(gone.client.keyId, 'admin', at());
    await repos.failures.recordFailure(made[1]!.card.id, 5, at());
    const asks: [string, string | null][] = [
      ...made.map(({ card }, i): [string, string | null] => [card.n, i % 2 ? live.client.keyId : null]),
      ['no-such-card', live.client.keyId],
      ['no-such-card', null],
      [made[0]!.card.n, gone.client.keyId],
    ];
    const alone = new PgDecisionStore(db, new PgPolicySource(db));
    const expected = [];
    for (const [n, key] of asks) expected.push(await alone.read(n, key));
    const { q, statements } = recorded(db);
    const store = new PgDecisionStore(q, new PgPolicySource(db));
    const answers = await Promise.all(asks.map(([n, key]) => store.read(n, key)));
    expect(statements.map((s) => s.sql)).toEqual([decisionSql.batchRead]);
    expect(answers).toEqual(expected);
    expect(answers[1]?.snapshot?.failures?.consecutive).toBe(1);
    expect(answers.slice(-3).map((a) => a.snapshot)).toEqual([null, null, null]);
    expect(answers.slice(-3).map((a) => a.apiKeyActive)).toEqual([true, null, false]);
  });

  it('ATTACK: in one batch, each use whose condition fails writes nothing, the others are marked', async () => {
    const made = await cards(7);
    const [used, far, blocked, locked, stalePolicy, revokedKey, fine] = made.map((m) => m);
    const policies = new PgPolicySource(db);
    await policies.refresh();
    // What the service's memory holds about a card after an acceptance there (acceptKnown's input).
    const knownOf = (m: (typeof made)[number], over: Partial<KnownUse> = {}): KnownUse => ({
      cardRef: m.card.id,
      listRef: m.list.id,
      index: 1,
      window: 10,
      at: at(),
      policyVersion: policies.version(),
      nextIndex: null,
      apiKeyId: null,
      ...over,
    });
    // Each case moved in the database since, as another desk or instance would.
    await new PgDecisionStore(db, policies).accept(used!.list.id, 1, 10, at(), false);
    await db.query(`UPDATE cards SET state = 'blocked' WHERE id = ?`, [blocked!.card.id]);
    await repos.failures.recordFailure(locked!.card.id, 1, at());
    const key = await issuer.core.clients.create({ name: 'gone', scopes: ['verify'], by: 'test' });
    await repos.verifyClients.revoke(key.client.keyId, 'admin', at());
    const before = await count('code_uses', []);

    const { q, batches } = recorded(db);
    const store = new PgDecisionStore(q, policies);
    const marks = await Promise.all([
      store.accept(used!.list.id, 1, 10, at(), false), // index 1 already used
      store.accept(far!.list.id, 11, 10, at(), false), // beyond the look-ahead
      store.acceptKnown(knownOf(blocked!)),
      store.acceptKnown(knownOf(locked!)),
      store.acceptKnown(knownOf(stalePolicy!, { policyVersion: policies.version() + 1 })),
      store.acceptKnown(knownOf(revokedKey!, { apiKeyId: key.client.keyId })),
      store.acceptKnown(knownOf(fine!, { nextIndex: 1 })),
    ]);
    expect(batches()).toHaveLength(1);
    expect(marks.map((m) => (m === null ? null : m.list.id))).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
      fine!.list.id,
    ]);
    expect(await count('code_uses', [])).toBe((before ?? 0) + 1);
    for (const m of [far, blocked, locked, stalePolicy, revokedKey])
      expect(await repos.lists.byId(m!.list.id)).toMatchObject({ nextIndex: 1, usedCount: 0 });
    expect(await repos.lists.byId(used!.list.id)).toMatchObject({ nextIndex: 2, usedCount: 1 });
    // The lock stayed (the reset never lifts one), and the blocked card's list is untouched.
    expect((await repos.failures.get(locked!.card.id))?.lockedAt).not.toBeNull();
  });

  it('ATTACK: many uses of one list at once never share a batch, and each index is marked at most once', async () => {
    const [one, other] = await cards(2);
    const { q, batches } = recorded(db);
    const store = new PgDecisionStore(q, new PgPolicySource(db));
    // 24 calls: indices 1..8, each three times, on one list, with another list's uses among them.
    const calls = Array.from({ length: 24 }, (_, i) => store.accept(one!.list.id, (i % 8) + 1, 10, at(), false));
    const others = Array.from({ length: 8 }, (_, i) => store.accept(other!.list.id, i + 1, 10, at(), false));
    const marks = await Promise.all(calls);
    await Promise.all(others);
    for (const b of batches()) {
      const lists = b.params[0] as number[];
      expect(new Set(lists).size).toBe(lists.length);
      expect([...lists].sort((a, z) => a - z)).toEqual(lists); // in list order: one locking order for all
    }
    const won = marks.filter((m) => m !== null).map((m) => m.index);
    expect(new Set(won).size).toBe(won.length);
    expect(await count('code_uses WHERE list_ref = ?', [one!.list.id])).toBe(won.length);
    expect((await repos.lists.byId(one!.list.id))?.usedCount).toBe(won.length);
    expect((await repos.lists.byId(one!.list.id))?.nextIndex).toBe(Math.max(...won) + 1);
  });

  it('ATTACK: 3 instances, 8 lists, each index 1 asked 8 times on each: exactly one mark per list', async () => {
    const made = await cards(8);
    const instances = Array.from(
      { length: 3 },
      () => new PgDatabase({ url, maxConnections: 8, preparedStatements: true }),
    );
    try {
      const stores = instances.map((i) => new PgDecisionStore(i, new PgPolicySource(i)));
      const tries = stores.flatMap((store) =>
        made.flatMap(({ list }) => Array.from({ length: 8 }, () => store.accept(list.id, 1, 10, at(), true))),
      );
      const marks = await Promise.all(tries);
      expect(marks.filter((m) => m !== null)).toHaveLength(8);
      for (const { list } of made) {
        expect(marks.filter((m) => m?.list.id === list.id)).toHaveLength(1);
        expect(await count('code_uses WHERE list_ref = ?', [list.id])).toBe(1);
        expect(await repos.lists.byId(list.id)).toMatchObject({ nextIndex: 2, usedCount: 1 });
      }
    } finally {
      await Promise.all(instances.map((i) => i.close()));
    }
  });

  it('a batch the server refuses is decided mark by mark: the one at fault fails alone, the others are marked', async () => {
    const made = await cards(4);
    const [clash, ...rest] = made;
    // A use row for index 1 with the list's next index left at 1 (no path of ours writes this): the
    // batch's INSERT meets the primary key, and the server refuses the whole statement.
    await db.query('INSERT INTO code_uses (list_ref, code_index, used_at) VALUES (?, 1, ?)', [clash!.list.id, at()]);
    const { q, statements, batches } = recorded(db);
    const store = new PgDecisionStore(q, new PgPolicySource(db));
    const settled = await Promise.allSettled(made.map(({ list }) => store.accept(list.id, 1, 10, at(), false)));
    expect(batches()).toHaveLength(1);
    expect(statements.filter((s) => s.sql === decisionSql.accept)).toHaveLength(4);
    expect(settled[0]).toMatchObject({ status: 'rejected', reason: { code: '23505' } });
    expect(settled.slice(1).map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    for (const { list } of rest) expect(await repos.lists.byId(list.id)).toMatchObject({ nextIndex: 2, usedCount: 1 });
    expect(await repos.lists.byId(clash!.list.id)).toMatchObject({ nextIndex: 1, usedCount: 0 });
  });

  it('ATTACK: a connection lost under a batch is told to each of its marks; none is sent again', async () => {
    const made = await cards(3);
    const lost = new AppError('DB_UNREACHABLE', 'The issuer database server cannot be reached.');
    const { q, statements } = recorded(db, (sql) => (sql === decisionSql.batch ? lost : null));
    const store = new PgDecisionStore(q, new PgPolicySource(db));
    const settled = await Promise.allSettled(made.map(({ list }) => store.accept(list.id, 1, 10, at(), false)));
    expect(settled.map((s) => (s.status === 'rejected' ? (s.reason as AppError).code : s.status))).toEqual([
      'DB_UNREACHABLE',
      'DB_UNREACHABLE',
      'DB_UNREACHABLE',
    ]);
    // Sent once: whether it committed is unknown, so marking again alone could answer "already used".
    expect(statements).toHaveLength(1);
    for (const { list } of made) expect(await repos.lists.byId(list.id)).toMatchObject({ nextIndex: 1 });
  });

  it("the service's next codes of many cards at once: all accepted, in fewer statements than verifications", async () => {
    const made = await cards(16);
    const { q, batches, statements } = recorded(db);
    const svc = verificationOn(issuer, repos, db, q);
    const round = (i: number) =>
      Promise.all(made.map(({ card, codes }) => svc.verify(card.n, codes[i] ?? '', i + 1, 'client:test')));
    expect((await round(0)).every((r) => r.accepted)).toBe(true);
    const first = statements.length;
    const second = await round(1);
    expect(second.every((r) => r.accepted && r.index === 2)).toBe(true);
    expect(statements.length - first).toBeLessThan(made.length);
    expect(batches().length).toBeGreaterThan(0);
    for (const { list } of made) expect(await count('code_uses WHERE list_ref = ?', [list.id])).toBe(2);
  });
});

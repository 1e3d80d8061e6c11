import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { pgRepositories } from '../../../src/core/db/repositories';
import type { IssuerRepositories } from '../../../src/core/db/repositories';
import { SYSTEM_ACTOR } from '../../../src/core/lists/list.service';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import type { PgQueryable } from '../../../src/core/db/pg/pg-database';
import { VerificationService, type VerifyResult } from '../../../src/core/verification/verification.service';
import { PgPolicySource } from '../../../src/core/policy/policy-source.pg';
import { decisionSql, PgDecisionStore } from '../../../src/core/verification/verification-store.pg';
import { startPostgres, type TestPostgres } from '../../support/postgres';
import { pgIssuer, verificationOn, type PgIssuer } from '../../support/verify-service-pg';
import { deskWithKeystore, type Desk } from '../../support/verify-service';

// The verification's two statements on PostgreSQL (verification-store.pg.ts): the one read must see
// exactly what the repositories' separate reads see, the one accepting statement must mark a use
// exactly once with its use row, reset the failure count only when asked and never lift a lock,
// and an API key answered from the service's memory must be refused at its next verification once
// revoked elsewhere, with nothing recorded. After one acceptance, the next code of the card is one
// statement (acceptKnown): anything the read would have shown differently — a blocked card, a lock,
// a disabled list, a code used by another instance — sends the decision back to the read, and the
// answer is the read's, nothing written.

describe('the verification decision in two statements on PostgreSQL', () => {
  let server: TestPostgres;
  let desk: Desk;
  let db: PgDatabase;
  let repos: IssuerRepositories;
  let issuer: PgIssuer;
  let store: PgDecisionStore;
  const at = () => new Date().toISOString();
  const count = async (sql: string, params: unknown[]) =>
    (await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${sql}`, params))[0]?.n;

  beforeAll(async () => {
    server = await startPostgres();
    const url = server.url(await server.createDatabase());
    db = new PgDatabase({ url, maxConnections: 16, preparedStatements: true });
    await migratePg(db);
    desk = await deskWithKeystore();
    issuer = await pgIssuer(desk, url);
    repos = pgRepositories(db, new PgAuditTrail(new PgAuditLog(db)));
    store = new PgDecisionStore(db, new PgPolicySource(db));
  }, 120_000);

  afterAll(async () => {
    await issuer?.close();
    await db?.close();
    await desk?.dispose();
    server?.stop();
  }, 60_000);

  /** What the repositories read one by one (the SQLite path's reads). */
  const separately = async (n: string) => {
    const card = await repos.cards.byN(n);
    if (!card) return null;
    return { card, list: await repos.lists.current(card.id), failures: await repos.failures.get(card.id) };
  };

  it('the one read sees what the repositories see, through failures, a lock, a disabled list and no list', async () => {
    const { card, list } = await issuer.cardWithCodes();
    const read = async () => (await store.read(card.n, null)).snapshot;
    expect(await read()).toEqual(await separately(card.n));
    expect((await read())?.failures).toBeNull();
    await repos.failures.recordFailure(card.id, 3, at());
    expect((await read())?.failures).toMatchObject({ consecutive: 1, lockedAt: null });
    expect(await read()).toEqual(await separately(card.n));
    await repos.failures.recordFailure(card.id, 2, at());
    expect((await read())?.failures?.lockedAt).not.toBeNull();
    expect(await read()).toEqual(await separately(card.n));
    // A disabled list that was active stays the card's list (refused as table_disabled).
    await issuer.core.lists.disable(list.id, SYSTEM_ACTOR, 'lost');
    expect((await read())?.list).toMatchObject({ id: list.id, state: 'disabled' });
    expect(await read()).toEqual(await separately(card.n));
    // A card without any list.
    const bare = await issuer.cardWithCodes();
    await db.query('DELETE FROM code_uses WHERE list_ref = ?', [bare.list.id]);
    await db.query(`UPDATE code_lists SET state = 'superseded' WHERE id = ?`, [bare.list.id]);
    expect((await store.read(bare.card.n, null)).snapshot).toEqual(await separately(bare.card.n));
    expect((await store.read(bare.card.n, null)).snapshot?.list).toBeNull();
    // An unknown N reads as no card; no key asked about, no key answered.
    expect(await store.read('no-such-card', null)).toEqual({ snapshot: null, apiKeyActive: null });
  });

  it("the one read answers for the caller's API key: active, revoked, unknown", async () => {
    const { card } = await issuer.cardWithCodes();
    const made = await issuer.core.clients.create({ name: 'branch', scopes: ['verify'], by: 'test' });
    const keyId = made.client.keyId;
    expect(await store.read(card.n, keyId)).toMatchObject({ apiKeyActive: true, snapshot: { card: { id: card.id } } });
    expect(await store.read('no-such-card', keyId)).toEqual({ snapshot: null, apiKeyActive: true });
    expect(await store.read(card.n, '0123456789abcdef')).toEqual({ snapshot: null, apiKeyActive: false });
    await repos.verifyClients.revoke(keyId, 'test', at());
    expect(await store.read(card.n, keyId)).toEqual({ snapshot: null, apiKeyActive: false });
  });

  it('accept marks once with its use row; the reset only when asked and never lifting a lock', async () => {
    const { card, list } = await issuer.cardWithCodes();
    await repos.failures.recordFailure(card.id, 5, at());
    await repos.failures.recordFailure(card.id, 5, at());
    // Not asked to reset: the count stays.
    const first = await store.accept(list.id, 1, 10, at(), false);
    expect(first).toMatchObject({ index: 1, list: { id: list.id, nextIndex: 2, usedCount: 1 } });
    expect((await repos.failures.get(card.id))?.consecutive).toBe(2);
    // Asked: the count goes back to 0 with the mark.
    expect(await store.accept(list.id, 2, 10, at(), true)).toMatchObject({ index: 2 });
    expect((await repos.failures.get(card.id))?.consecutive).toBe(0);
    expect(await count('code_uses WHERE list_ref = ?', [list.id])).toBe(2);
    // The same index again, a position behind, one beyond the window: nothing is written.
    await repos.failures.recordFailure(card.id, 5, at());
    expect(await store.accept(list.id, 2, 10, at(), true)).toBeNull();
    expect(await store.accept(list.id, 1, 10, at(), true)).toBeNull();
    expect(await store.accept(list.id, 13, 10, at(), true)).toBeNull();
    expect(await count('code_uses WHERE list_ref = ?', [list.id])).toBe(2);
    expect((await repos.failures.get(card.id))?.consecutive).toBe(1);
    expect((await repos.lists.byId(list.id))?.nextIndex).toBe(3);
    // A lock stays, and the mark itself refuses a locked card: nothing is used, nothing reset.
    await repos.failures.recordFailure(card.id, 2, at());
    const locked = await repos.failures.get(card.id);
    expect(locked?.lockedAt).not.toBeNull();
    expect(await store.accept(list.id, 3, 10, at(), true)).toBeNull();
    expect(await repos.failures.get(card.id)).toEqual(locked);
    expect(await count('code_uses WHERE list_ref = ?', [list.id])).toBe(2);
    expect((await repos.lists.byId(list.id))?.nextIndex).toBe(3);
  });

  it('ATTACK: a lock landing between the decision read and its mark: the right code is refused, nothing used', async () => {
    // Wrong codes at other instances lock the card while this decision has read it unlocked: the
    // mark sees the lock in its own UPDATE (markUseRule), so a guess in flight is not accepted past it.
    const { card, codes, list } = await issuer.cardWithCodes();
    let armed = true;
    const q: PgQueryable = {
      query: async (sql, params) => {
        const rows = await db.query(sql, params);
        if (armed && sql === decisionSql.read) {
          armed = false;
          for (let i = 0; i < 5; i++) await repos.failures.recordFailure(card.id, 5, at());
        }
        return rows as never;
      },
    };
    const svc = verificationOn(issuer, repos, db, q);
    const before = { uses: await count('code_uses WHERE list_ref = ?', [list.id]) };
    expect(await svc.verify(card.n, codes[0] ?? '', 1, 'client:test')).toEqual({
      accepted: false,
      reason: 'too_many_failures',
    });
    expect(armed).toBe(false);
    expect({ uses: await count('code_uses WHERE list_ref = ?', [list.id]) }).toEqual(before);
    expect((await repos.lists.byId(list.id))?.nextIndex).toBe(1);
    expect((await repos.failures.get(card.id))?.consecutive).toBe(5);
    // Lifted at the desk, the same code passes.
    await repos.failures.clear(card.id);
    expect(await svc.verify(card.n, codes[0] ?? '', 1, 'client:test')).toMatchObject({ accepted: true, index: 1 });
  });

  it('ATTACK: marks in one batch: a locked card is refused in the batch, the others marked', async () => {
    let batches = 0;
    const q: PgQueryable = {
      query: (sql, params) => {
        if (sql === decisionSql.batch) batches++;
        return db.query(sql, params);
      },
    };
    const batched = new PgDecisionStore(q, new PgPolicySource(db));
    const made = await Promise.all(Array.from({ length: 24 }, () => issuer.cardWithCodes()));
    const lockedCards = made.filter((_, i) => i % 3 === 0);
    for (const { card } of lockedCards) await repos.failures.recordFailure(card.id, 1, at());
    const marks = await Promise.all(made.map(({ list }) => batched.accept(list.id, 1, 10, at(), true)));
    expect(batches).toBeGreaterThan(0);
    made.forEach(({ list }, i) => {
      if (i % 3 === 0) expect(marks[i], `list ${list.id}`).toBeNull();
      else expect(marks[i], `list ${list.id}`).toMatchObject({ index: 1, list: { id: list.id } });
    });
    const ids = made.map(({ list }) => list.id);
    expect(await count('code_uses WHERE list_ref = ANY(?)', [ids])).toBe(16);
    for (const { list } of lockedCards) expect((await repos.lists.byId(list.id))?.nextIndex).toBe(1);
  });

  it('ATTACK: 32 accepts of one index at once: one mark, one use row, the others write nothing', async () => {
    const { list } = await issuer.cardWithCodes();
    const marks = await Promise.all(Array.from({ length: 32 }, () => store.accept(list.id, 4, 10, at(), true)));
    expect(marks.filter((m) => m !== null)).toHaveLength(1);
    expect(await count('code_uses WHERE list_ref = ?', [list.id])).toBe(1);
    expect(await repos.lists.byId(list.id)).toMatchObject({ nextIndex: 5, usedCount: 1 });
  });

  it('ATTACK: 64 replays of one code at once over 3 instances: one acceptance, 63 refusals each recorded with its entry, no error', async () => {
    // Each refusal is a unit of work that appends to the chain: under SERIALIZABLE they conflicted
    // on its head with every one committed since they began and ran out of attempts (500s).
    const { card, codes, list } = await issuer.cardWithCodes();
    const instances = [issuer.core, await issuer.instance(), await issuer.instance()];
    const entriesBefore = await count(`audit_log WHERE action = 'verification.refused'`, []);
    const settled = await Promise.allSettled(
      Array.from({ length: 64 }, (_, i) =>
        instances[i % 3]!.verification.verify(card.n, codes[0] ?? '', 1, 'client:test'),
      ),
    );
    expect(settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason))).toEqual([]);
    const results = settled.map((s) => (s.status === 'fulfilled' ? s.value : null));
    expect(results.filter((r) => r?.accepted)).toHaveLength(1);
    expect(results.filter((r) => r && !r.accepted && r.reason === 'already_used')).toHaveLength(63);
    expect(await count('code_uses WHERE list_ref = ?', [list.id])).toBe(1);
    expect(await count(`verify_rejections WHERE list_ref = ? AND reason = 'already_used'`, [list.id])).toBe(63);
    expect(await count(`audit_log WHERE action = 'verification.refused'`, [])).toBe((entriesBefore ?? 0) + 63);
    const rows = await new PgAuditLog(db).entries();
    expect(verifyAuditChain(arrayChainSource(rows, []), null)).toMatchObject({ ok: true, entries: rows.length });
  });

  it('64 challenges asked for at once over 3 instances: each issued with its entry, no error', async () => {
    const { card } = await issuer.cardWithCodes();
    const instances = [issuer.core, await issuer.instance(), await issuer.instance()];
    const entriesBefore = await count(`audit_log WHERE action = 'verification.challenge_issued'`, []);
    const settled = await Promise.allSettled(
      Array.from({ length: 64 }, (_, i) => instances[i % 3]!.challenges.issue(card.n, 'client:test')),
    );
    expect(settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason))).toEqual([]);
    expect(await count('verify_challenges WHERE card_ref = ?', [card.id])).toBe(64);
    expect(await count(`audit_log WHERE action = 'verification.challenge_issued'`, [])).toBe((entriesBefore ?? 0) + 64);
  });

  it('ATTACK: a key answered from memory and revoked elsewhere is refused at its next verification, nothing recorded', async () => {
    const { card, codes } = await issuer.cardWithCodes();
    const { apiKey, client } = await issuer.core.clients.create({
      name: 'call-centre',
      scopes: ['verify'],
      by: 'test',
    });
    const clients = issuer.core.clients;
    const caller = { apiKeyId: client.keyId };
    expect(await clients.authenticate(apiKey, { confirmedAtUse: true })).toMatchObject({ keyId: client.keyId });
    const verify = (code: string | undefined, index: number, n = card.n) =>
      issuer.core.verification.verify(n, code ?? '', index, `client:${client.keyId}`, caller);
    expect(await verify(codes[0], 1)).toMatchObject({ accepted: true, index: 1 });
    // Revoked by another desk or instance: straight in the database, this process is not told.
    await repos.verifyClients.revoke(client.keyId, 'admin', at());
    // The service's memory still answers for the key (one lookup saved per request) ...
    expect(await clients.authenticate(apiKey, { confirmedAtUse: true })).not.toBeNull();
    // ... but not where the use checks it, and every other call looks it up.
    expect(await clients.authenticate(apiKey)).toBeNull();
    const before = {
      rejections: await count('verify_rejections', []),
      audit: await count('audit_log', []),
      uses: await count('code_uses', []),
    };
    await expect(verify(codes[1], 2)).rejects.toMatchObject({ code: 'VERIFY_CLIENT_REVOKED' });
    await expect(verify('00000000', 2)).rejects.toMatchObject({ code: 'VERIFY_CLIENT_REVOKED' });
    await expect(verify(codes[1], 2, 'no-such-card')).rejects.toMatchObject({ code: 'VERIFY_CLIENT_REVOKED' });
    expect({
      rejections: await count('verify_rejections', []),
      audit: await count('audit_log', []),
      uses: await count('code_uses', []),
    }).toEqual(before);
    expect(await repos.failures.get(card.id)).toBeNull();
    // The same call without a caller to confirm (the desk) is decided as ever.
    expect(await issuer.core.verification.verify(card.n, codes[1] ?? '', 2)).toMatchObject({ accepted: true });
  });

  describe('after one acceptance: the next code in one statement, the read whenever something moved', () => {
    let statements = 0;
    let svc: VerificationService;
    beforeAll(() => {
      // What the service runs, counted: every statement goes through this.
      const counted: PgQueryable = {
        query: (sql, params) => {
          statements++;
          return db.query(sql, params);
        },
      };
      svc = verificationOn(issuer, repos, db, counted);
    });
    /** One verification and the statements it ran. */
    const timed = async (n: string, code: string | undefined, index?: number) => {
      statements = 0;
      const result: VerifyResult = await svc.verify(n, code ?? '', index, 'client:test');
      return { result, statements };
    };
    const uses = (listRef: number) => count('code_uses WHERE list_ref = ?', [listRef]);

    it('a run of codes of one card: the first with the read, each next one a single statement', async () => {
      const { card, codes, list } = await issuer.cardWithCodes();
      expect(await timed(card.n, codes[0], 1)).toMatchObject({ result: { accepted: true }, statements: 2 });
      expect(await timed(card.n, codes[1], 2)).toEqual({
        result: { accepted: true, index: 2, remaining: 98, refillQueued: false },
        statements: 1,
      });
      // Without the index: the candidates from the known next index, which the statement checks.
      expect(await timed(card.n, codes[2])).toMatchObject({ result: { accepted: true, index: 3 }, statements: 1 });
      // Another instance uses code 4: the known next index is stale; the replay of code 4 here is
      // refused as the read decides it (already used), then the next code is accepted.
      expect(await issuer.core.verification.verify(card.n, codes[3] ?? '', 4)).toMatchObject({ accepted: true });
      expect((await timed(card.n, codes[3])).result).toEqual({ accepted: false, reason: 'already_used' });
      expect((await timed(card.n, codes[4])).result).toMatchObject({ accepted: true, index: 5 });
      expect(await uses(list.id)).toBe(5);
      // A wrong code is the read's decision too (counted), and the right one after it resets the count.
      expect((await timed(card.n, '00000000', 6)).result).toEqual({ accepted: false, reason: 'wrong_code' });
      expect((await repos.failures.get(card.id))?.consecutive).toBe(1);
      expect((await timed(card.n, codes[5], 6)).result).toMatchObject({ accepted: true, index: 6 });
      expect((await repos.failures.get(card.id))?.consecutive).toBe(0);
      expect(await timed(card.n, codes[6], 7)).toMatchObject({ result: { accepted: true }, statements: 1 });
    });

    it('ATTACK: a card blocked, locked or its list disabled elsewhere after an acceptance: refused as the read says, nothing used', async () => {
      const cases: [string, (c: { card: { id: number }; list: { id: number } }) => Promise<unknown>][] = [
        ['card_blocked', ({ card }) => db.query(`UPDATE cards SET state = 'blocked' WHERE id = ?`, [card.id])],
        ['too_many_failures', ({ card }) => repos.failures.recordFailure(card.id, 1, at())],
        ['table_disabled', ({ list }) => issuer.core.lists.disable(list.id, SYSTEM_ACTOR, 'lost')],
      ];
      for (const [reason, change] of cases) {
        const made = await issuer.cardWithCodes();
        expect((await timed(made.card.n, made.codes[0], 1)).result).toMatchObject({ accepted: true });
        await change(made);
        expect((await timed(made.card.n, made.codes[1], 2)).result, reason).toEqual({ accepted: false, reason });
        expect((await timed(made.card.n, made.codes[1])).result, reason).toEqual({ accepted: false, reason });
        expect(await uses(made.list.id), reason).toBe(1);
        expect((await repos.lists.byId(made.list.id))?.nextIndex, reason).toBe(2);
      }
    });
  });
});

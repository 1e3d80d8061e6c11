import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService, type AuditEntryInput } from '../../../src/core/audit/audit.service';
import { PgAuditLog } from '../../../src/core/audit/audit-log.pg';
import { SqliteCardRepository, type CardRepository } from '../../../src/core/cards/card.repository';
import { PgCardRepository } from '../../../src/core/cards/card.repository.pg';
import {
  SqliteCustomerHistoryRepository,
  type CustomerHistoryRepository,
} from '../../../src/core/customers/customer-history.repository';
import { PgCustomerHistoryRepository } from '../../../src/core/customers/customer-history.repository.pg';
import {
  SqliteCustomerRepository,
  type CustomerRepository,
  type NewCustomer,
} from '../../../src/core/customers/customer.repository';
import { PgCustomerRepository } from '../../../src/core/customers/customer.repository.pg';
import { openDatabase, type Database } from '../../../src/core/db/database';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase, pgSql } from '../../../src/core/db/pg/pg-database';
import {
  SqliteListRepository,
  listSql,
  type ListRecord,
  type ListRepository,
  type UseMark,
} from '../../../src/core/lists/list.repository';
import { PgListRepository } from '../../../src/core/lists/list.repository.pg';
import {
  ReissueTakenError,
  SqliteReissueRepository,
  type ReissueRepository,
} from '../../../src/core/reissue/reissue.repository';
import { PgReissueRepository } from '../../../src/core/reissue/reissue.repository.pg';
import {
  SqliteSupportCaseRepository,
  type SupportCaseRepository,
} from '../../../src/core/support/support-case.repository';
import { PgSupportCaseRepository } from '../../../src/core/support/support-case.repository.pg';
import { ADD_SQL, FOLD_DAYS_READ_SQL, foldUses } from '../../../src/core/usage/usage-rollup';
import { FOLD_MARGIN_MS, FOLD_MOVE_SQL, foldHorizon } from '../../../src/core/usage/usage-rollup.pg';
import { SqliteUsageRepository, type UsageRepository } from '../../../src/core/usage/usage.repository';
import { PgUsageRepository } from '../../../src/core/usage/usage.repository.pg';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 1: the support cases, reissues, customer history and the usage review behave alike
// on both engines — the same answers, the same compare-and-set refusals with nothing changed — and
// with several writers (on PostgreSQL, three pools as three desks or verification instances):
// a passkey counter locks once, a reissue is claimed once, a case is opened once, and the usage
// rollup counts every committed use mark exactly once however the marks and the folds interleave.

const at = '2026-12-03T10:00:00.000Z';
const by = { operator: 'mia', at };

interface Repos {
  customers: CustomerRepository;
  cards: CardRepository;
  lists: ListRepository;
  cases: SupportCaseRepository;
  reissues: ReissueRepository;
  history: CustomerHistoryRepository;
  usage: UsageRepository;
  /** Folds the usage rollup through this connection; how many use marks this call folded. */
  fold(): Promise<number>;
  append(entry: AuditEntryInput): Promise<unknown>;
}
interface Engine extends Repos {
  name: 'sqlite' | 'postgres';
  others: Repos[];
  /** Superuser look behind the repositories' back. */
  peek<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * A use mark made by the statements markUse runs, whose transaction stays open until `commit`
   * is called (on SQLite, with one writer, it is simply made at that moment).
   */
  slowUse(listId: number, index: number, usedAt: string): Promise<{ commit(): Promise<void> }>;
  close(): Promise<void>;
}

let server: TestPostgres;
/** The time the PostgreSQL review folds at (its clock, injected). */
let clock = new Date('2026-12-03T11:00:00.000Z');
let customerSeq = 0;
const customer = (over: Partial<NewCustomer> = {}): NewCustomer => ({
  customerRef: `S-${++customerSeq}`,
  fullName: 'Grace Hopper',
  birthDate: null,
  address: { line1: '1 Way', line2: null, postalCode: '1', city: 'Arlington', country: 'US' },
  email: null,
  mobile: null,
  branch: 'Branch 01',
  ...over,
});

const engines: Record<string, () => Promise<Engine>> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otac-repos2-'));
    const file = join(dir, 'workstation.db');
    const db = openDatabase(file);
    const other = openDatabase(file);
    const repos = (d: Database): Repos => {
      const audit = new AuditService(d);
      return {
        customers: new SqliteCustomerRepository(d),
        cards: new SqliteCardRepository(d),
        lists: new SqliteListRepository(d),
        cases: new SqliteSupportCaseRepository(d),
        reissues: new SqliteReissueRepository(d),
        history: new SqliteCustomerHistoryRepository(d),
        usage: new SqliteUsageRepository(d),
        fold: async () => foldUses(d),
        append: async (entry) => Promise.resolve(audit.append(entry)),
      };
    };
    return {
      name: 'sqlite',
      ...repos(db),
      others: [repos(other)],
      peek: async <T>(sql: string, params: unknown[] = []) => db.prepare(sql).all(...params) as T[],
      slowUse: async (listId, index, usedAt) => ({
        commit: async () => {
          db.transaction(() => {
            if (!db.prepare(listSql.markUse).get(...listSql.markUseParams(listId, index, 1000)))
              throw new Error('the slow use mark lost');
            db.prepare(listSql.insertUse).run(listId, index, usedAt);
          })();
        },
      }),
      close: async () => {
        db.close();
        other.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  postgres: async () => {
    const database = await server.createDatabase('repos2');
    const url = server.url(database);
    const pools = [0, 1, 2].map(() => new PgDatabase({ url, maxConnections: 30 }));
    await migratePg(pools[0]!);
    const [db, ...rest] = pools as [PgDatabase, ...PgDatabase[]];
    const repos = (p: PgDatabase): Repos => {
      const audit = new PgAuditLog(p);
      const usage = new PgUsageRepository(p, { now: () => clock });
      return {
        customers: new PgCustomerRepository(p),
        cards: new PgCardRepository(p),
        lists: new PgListRepository(p),
        cases: new PgSupportCaseRepository(p),
        reissues: new PgReissueRepository(p),
        history: new PgCustomerHistoryRepository(p),
        usage,
        fold: () => usage.fold(),
        append: (entry) => audit.append(entry),
      };
    };
    return {
      name: 'postgres',
      ...repos(db),
      others: rest.map(repos),
      peek: <T>(sql: string, params: unknown[] = []) => server.admin<T & object>(database, pgSql(sql), params),
      slowUse: async (listId, index, usedAt) => {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let marked!: () => void;
        const made = new Promise<void>((resolve) => (marked = resolve));
        // The statements PgListRepository.markUse runs, in its kind of transaction, held open.
        const done = rest[0]!.transaction(async (tx) => {
          const [won] = await tx.query(listSql.markUse, listSql.markUseParams(listId, index, 1000));
          if (!won) throw new Error('the slow use mark lost');
          await tx.query(listSql.insertUse, [listId, index, usedAt]);
          marked();
          await gate;
        }, 'read committed');
        await Promise.race([made, done]);
        return {
          commit: async () => {
            release();
            await done;
          },
        };
      },
      close: async () => {
        await Promise.all(pools.map((p) => p.close()));
      },
    };
  },
};

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(() => server?.stop());

describe.each(Object.keys(engines))('support, reissue, history and usage repositories on %s', (name) => {
  let e: Engine;
  let all: Repos[];
  beforeAll(async () => {
    e = await engines[name]!();
    all = [e, ...e.others];
  });
  afterAll(async () => {
    await e?.close();
  });

  let cardSeq = 0;
  async function newCard(over: Partial<NewCustomer> = {}) {
    const owner = await e.customers.insert(customer(over), by);
    const id = (++cardSeq).toString(16).padStart(4, '0').toUpperCase();
    const card = await e.cards.insert(
      { cardId: `0203${id}`, customerId: owner.id, n: `N-${id}`, sealMode: 'card-key' },
      by,
    );
    return { owner, card };
  }
  let listSeq = 0;
  async function activeList(cardRef: number, length = 10): Promise<ListRecord> {
    const { list } = await e.lists.queue(
      {
        cardRef,
        listId: `${++listSeq}`.padStart(32, 'c'),
        length,
        digits: 6,
        threshold: 2,
        expiresAt: '2027-12-03T00:00:00.000Z',
        trigger: 'first',
      },
      by,
    );
    await e.lists.recordSealing(list.id, { mkVersion: 1, sealedFor: `card:${cardRef}`, bodyHash: 'ef'.repeat(32) }, at);
    for (const to of ['staged', 'committed', 'receipt_verified'] as const)
      await e.lists.transition(list.id, ['prepared', 'staged', 'committed'], to, at);
    const active = await e.lists.activate(list.id, at);
    if (!active) throw new Error('list did not activate');
    return active;
  }
  async function activeCard(over: Partial<NewCustomer> = {}) {
    const { owner, card } = await newCard(over);
    await e.cards.transition(card.id, ['enrolling'], 'awaiting_activation', at);
    const active = await e.cards.transition(card.id, ['awaiting_activation'], 'active', at);
    return { owner, card: active!, list: await activeList(card.id) };
  }
  const report = (card: { id: number; customerId: number }) =>
    e.cases.report(
      { cardRef: card.id, customerRef: card.customerId, reason: 'lost', suspicionRef: null, note: null },
      by,
    );
  const tag = (c: string) => c.repeat(32);
  const expiresAt = '2026-12-03T10:30:00.000Z';

  describe('support cases', () => {
    it('a report blocks the card, withdraws its lists and keeps the contacts; a second report finds the case', async () => {
      const { owner, card, list } = await activeCard({ email: 'Grace@Example.org', mobile: '+41790000000' });
      const opened = await report(card);
      if (opened.kind !== 'opened') throw new Error(`expected a new case, got ${opened.kind}`);
      expect(opened.supportCase).toMatchObject({
        cardRef: card.id,
        customerRef: owner.id,
        state: 'reported',
        cardStateBefore: 'active',
        contactEmail: 'Grace@Example.org',
        contactMobile: '+41790000000',
        failures: 0,
        version: 1,
      });
      expect(opened.withdrawn).toEqual([{ id: list.id, seq: 1, listId: list.listId, was: 'active' }]);
      expect((await e.cards.byId(card.id))?.state).toBe('blocked');
      expect((await e.lists.byId(list.id))?.state).toBe('disabled');
      expect(await report(card)).toEqual({ kind: 'existing', supportCase: opened.supportCase });
      expect(await e.cases.openForCard(card.id)).toEqual(opened.supportCase);
      expect(await e.cases.byId(opened.supportCase.id)).toEqual(opened.supportCase);
      // Migration 0020: the card stays blocked while its case is open, whichever desk tries.
      await expect(e.cards.transition(card.id, ['blocked'], 'active', at)).rejects.toThrow(/stays blocked/);
      // A card never activated cannot be reported; nothing is written.
      const { card: fresh } = await newCard();
      expect(await report(fresh)).toEqual({ kind: 'card_not_blockable', cardState: 'enrolling' });
      expect(await e.cases.openForCard(fresh.id)).toBeNull();
    });

    it('of desks reporting the same card at once, one opens the case and the others find it', async () => {
      const { card, list } = await activeCard();
      const outcomes = await Promise.all(
        Array.from({ length: 9 }, (_, i) =>
          all[i % all.length]!.cases.report(
            { cardRef: card.id, customerRef: card.customerId, reason: 'stolen', suspicionRef: null, note: `desk ${i}` },
            by,
          ),
        ),
      );
      const opened = outcomes.filter((o) => o.kind === 'opened');
      expect(opened).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'existing')).toHaveLength(8);
      const caseId = opened[0]!.kind === 'opened' ? opened[0]!.supportCase.id : 0;
      for (const o of outcomes) expect(o.kind === 'card_not_blockable' ? null : o.supportCase.id).toBe(caseId);
      // The card and its list moved once.
      expect(await e.cards.byId(card.id)).toMatchObject({ state: 'blocked', version: card.version + 1 });
      expect(await e.lists.byId(list.id)).toMatchObject({ state: 'disabled', version: list.version + 1 });
      const rows = await e.peek<{ n: number | string }>('SELECT count(*) AS n FROM support_cases WHERE card_ref = ?', [
        card.id,
      ]);
      expect(Number(rows[0]?.n)).toBe(1);
    });

    it('wrong passkeys racing from every desk: exactly `limit` count, one of them locks, the rest change nothing', async () => {
      const { card } = await activeCard({ email: 'ada@example.org' });
      const opened = await report(card);
      if (opened.kind !== 'opened') throw new Error('no case');
      const id = opened.supportCase.id;
      // Two desks send a passkey with the same serial at once: one is recorded.
      const sent = await Promise.all(
        all.map((r, i) =>
          r.cases.recordPasskey(id, {
            serial: 1,
            tag: tag(String(i)),
            channel: 'email',
            sentAt: at,
            expiresAt,
          }),
        ),
      );
      expect(sent.filter((s) => s !== null)).toHaveLength(1);
      const awaiting = sent.find((s) => s !== null)!;
      expect((await e.cases.awaitingForEmail('ADA@example.org')).map((c) => c.id)).toEqual([id]);

      const limit = 5;
      const counted = await Promise.all(
        Array.from({ length: 24 }, (_, i) => all[i % all.length]!.cases.recordFailure(id, limit, at)),
      );
      const won = counted.filter((c) => c !== null);
      expect(won).toHaveLength(limit);
      expect(won.map((c) => c.failures).sort()).toEqual([1, 2, 3, 4, 5]);
      expect(won.filter((c) => c.state === 'locked')).toHaveLength(1);
      const locked = await e.cases.byId(id);
      expect(locked).toMatchObject({
        state: 'locked',
        failures: limit,
        passkeyTag: null,
        version: awaiting.version + limit,
      });
      // The right passkey after the lock, and more wrong ones: refused, nothing changed.
      const late = await Promise.all(
        all.map((r) =>
          r.cases.markVerified(id, { serial: 1, tag: awaiting.passkeyTag!, limit, via: 'desk', by: 'mia', at }),
        ),
      );
      expect(late).toEqual(all.map(() => null));
      expect(await e.cases.recordFailure(id, limit, at)).toBeNull();
      expect(await e.cases.byId(id)).toEqual(locked);

      // The manager's identity procedure, recorded by one desk of three; then a new passkey verifies once.
      const procedures = await Promise.all(
        all.map((r, i) =>
          r.cases.recordIdentityProcedure(
            id,
            { documentType: 'passport', documentRef: `P${i}`, checkedBy: 'mia', approvedBy: 'max', maxSends: 5 },
            at,
          ),
        ),
      );
      expect(procedures.filter((p) => p !== null)).toHaveLength(1);
      expect(await e.cases.byId(id)).toMatchObject({ state: 'reported', failures: 0, passkeyTag: null });
      const second = await e.cases.recordPasskey(id, {
        serial: 2,
        tag: tag('b'),
        channel: 'sms',
        sentAt: at,
        expiresAt,
      });
      expect(second).toMatchObject({ state: 'passkey_sent', passkeySerial: 2 });
      // An expired or stale passkey does not verify.
      expect(
        await e.cases.markVerified(id, { serial: 2, tag: tag('b'), limit, via: 'desk', by: 'mia', at: expiresAt }),
      ).toBeNull();
      expect(
        await e.cases.markVerified(id, { serial: 1, tag: tag('b'), limit, via: 'desk', by: 'mia', at }),
      ).toBeNull();
      const verified = await Promise.all(
        all.map((r) =>
          r.cases.markVerified(id, { serial: 2, tag: tag('b'), limit, via: 'email_reply', by: 'mia', at }),
        ),
      );
      expect(verified.filter((v) => v !== null)).toHaveLength(1);
      expect(await e.cases.byId(id)).toMatchObject({ state: 'verified', passkeyTag: null, verifiedVia: 'email_reply' });
      expect(await e.cases.awaitingForEmail('ada@example.org')).toEqual([]);

      // Reissued once, with one new card, by whichever desk was first.
      const blanks = await Promise.all(all.map(() => newCard()));
      const reissued = await Promise.all(all.map((r, i) => r.cases.markReissued(id, blanks[i]!.card.id, at)));
      expect(reissued.filter((r) => r !== null)).toHaveLength(1);
      const done = await e.cases.byId(id);
      expect(done).toMatchObject({ state: 'reissued', newCardRef: reissued.find((r) => r !== null)!.newCardRef });
      expect(await e.cases.openForCard(card.id)).toBeNull();
      // Open cases come first; a reissued one after them.
      const listed = await e.cases.list(500);
      const firstReissued = listed.findIndex((c) => c.state === 'reissued');
      expect(listed.slice(firstReissued).every((c) => c.state === 'reissued')).toBe(true);
      expect(listed.map((c) => c.id)).toContain(id);
    });
  });

  describe('reissues', () => {
    async function verifiedCase() {
      const { card, list } = await activeCard();
      const opened = await report(card);
      if (opened.kind !== 'opened') throw new Error('no case');
      return { card, list, caseId: opened.supportCase.id };
    }

    it('a case claimed twice at once gets one reissue; the old card and the blank card serve one each', async () => {
      const { card, list, caseId } = await verifiedCase();
      const claims = await Promise.allSettled(
        Array.from({ length: 9 }, (_, i) =>
          all[i % all.length]!.reissues.begin(
            {
              caseId,
              customerRef: card.customerId,
              oldCardRef: card.id,
              newCardId: `B1A${i}`,
              oldListRef: list.id,
              carriedCodes: 7,
            },
            by,
          ),
        ),
      );
      const won = claims.filter((c) => c.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const c of claims) if (c.status === 'rejected') expect(c.reason).toBeInstanceOf(ReissueTakenError);
      const reissue = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<ReissueRepository['begin']>>>).value;
      expect(reissue).toMatchObject({ caseId, state: 'enrolling', carriedCodes: 7, newCardRef: null, version: 1 });
      expect(await e.reissues.byCase(caseId)).toEqual(reissue);
      expect(await e.reissues.byOldCard(card.id)).toEqual(reissue);

      // Each UNIQUE refusal names what was taken.
      const other = await verifiedCase();
      const again = (over: object) =>
        e.reissues.begin(
          {
            caseId: other.caseId,
            customerRef: other.card.customerId,
            oldCardRef: other.card.id,
            newCardId: 'C0FFEE',
            oldListRef: null,
            carriedCodes: 0,
            ...over,
          },
          by,
        );
      await expect(again({ caseId })).rejects.toMatchObject({ what: 'case' });
      await expect(again({ oldCardRef: card.id })).rejects.toMatchObject({ what: 'old_card' });
      await expect(again({ newCardId: reissue.newCardId })).rejects.toMatchObject({ what: 'new_card' });
      expect(await e.reissues.byCase(other.caseId)).toBeNull();
    });

    it('moves a reissue by compare-and-set: each step is won by one desk of many, the rest change nothing', async () => {
      const { card, list, caseId } = await verifiedCase();
      const r = await e.reissues.begin(
        {
          caseId,
          customerRef: card.customerId,
          oldCardRef: card.id,
          newCardId: `D${card.id}`,
          oldListRef: list.id,
          carriedCodes: 3,
        },
        by,
      );
      const { card: blank } = await newCard();
      const once = async <T>(step: (repos: Repos) => Promise<T | null>) => {
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) => step(all[i % all.length]!)));
        expect(results.filter((x) => x !== null)).toHaveLength(1);
        return results.find((x) => x !== null)!;
      };
      expect(await e.reissues.markDone(r.id, at)).toBeNull();
      const enrolled = await once((x) => x.reissues.markEnrolled(r.id, blank.id, at));
      expect(enrolled).toMatchObject({ state: 'enrolled', newCardRef: blank.id, version: 2 });
      expect(await e.reissues.byNewCard(blank.id)).toEqual(enrolled);
      const carried = await activeList(blank.id);
      expect((await once((x) => x.reissues.setCarriedList(r.id, carried.id, at))).carriedListRef).toBe(carried.id);
      // The emergency sheet: set once from "none", replaced only by who saw the current one.
      const sheetCard = (await newCard()).card;
      const sheetA = await activeList(sheetCard.id);
      const sheetB = await activeList((await newCard()).card.id);
      expect((await once((x) => x.reissues.setEmergencyList(r.id, null, sheetA.id, at))).emergencyListRef).toBe(
        sheetA.id,
      );
      expect(await e.reissues.setEmergencyList(r.id, null, sheetB.id, at)).toBeNull();
      expect((await e.reissues.setEmergencyList(r.id, sheetA.id, sheetB.id, at))?.emergencyListRef).toBe(sheetB.id);
      const printed = await once((x) =>
        x.reissues.markEmergencyPrinted(r.id, sheetB.id, { operator: 'mia', approver: 'max', at }),
      );
      expect(printed).toMatchObject({ emergencyPrintedBy: 'mia', emergencyApprovedBy: 'max' });
      // Printed: the sheet can no longer be swapped.
      expect(await e.reissues.setEmergencyList(r.id, sheetB.id, sheetA.id, at)).toBeNull();
      expect((await once((x) => x.reissues.markOldCardTerminated(card.id, at))).oldCardTerminatedAt).toBe(at);
      const done = await once((x) => x.reissues.markDone(r.id, at));
      expect(done).toMatchObject({ state: 'done', version: printed.version + 2 });
      expect(await e.reissues.byCase(caseId)).toEqual(done);
      expect(await e.reissues.markEnrolled(r.id, sheetCard.id, at)).toBeNull();
      expect(await e.reissues.byCase(caseId)).toEqual(done);
    });
  });

  describe('customer history', () => {
    it('reads the audit entries of a customer and their cards, newest first, a page at a time', async () => {
      const { owner, card } = await newCard();
      const objects = [`customer:${owner.id}`, `card:${card.id}`];
      const actor = { operatorId: null, operator: 'mia', role: 'clerk' as const };
      for (const [i, object] of [objects[0], objects[1], 'customer:999999', objects[1]].entries())
        await e.append({ ...actor, action: `test.step${i}`, object, outcome: 'ok', details: { i } });
      const page = await e.history.forObjects(objects, 2);
      expect(page.more).toBe(true);
      expect(page.entries.map((x) => x.action)).toEqual(['test.step3', 'test.step1']);
      const whole = await e.others[0]!.history.forObjects(objects, 10);
      expect(whole.more).toBe(false);
      expect(whole.entries.map((x) => [x.action, x.object])).toEqual([
        ['test.step3', objects[1]],
        ['test.step1', objects[1]],
        ['test.step0', objects[0]],
      ]);
      expect(whole.entries[0]?.details).toBe(JSON.stringify({ i: 3 }));
      expect(await e.history.forObjects([], 10)).toEqual({ entries: [], more: false });
    });
  });

  describe('usage review', () => {
    const days = ['2026-11-28', '2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02', '2026-12-03'];
    /** Every use mark that won, as the test saw it: the independent count the review must match. */
    const marks: UseMark[] = [];
    const branchOfList = new Map<number, string>();
    const customerOfList = new Map<number, number>();
    let lists: ListRecord[] = [];
    const next = new Map<number, number>();

    /** Use marks raced from every connection: several writers per list, each index won once. */
    async function race(day: string, perList = 6, on: readonly ListRecord[] = lists) {
      const jobs: Promise<UseMark | null>[] = [];
      for (const list of on) {
        const base = next.get(list.id) ?? 0;
        for (let k = 1; k <= perList; k++)
          for (const r of all) jobs.push(r.lists.markUse(list.id, base + k, 1000, `${day}T10:00:0${k}.000Z`));
        next.set(list.id, base + perList);
      }
      const won = (await Promise.all(jobs)).filter((m): m is UseMark => m !== null);
      marks.push(...won);
      return won;
    }
    function expected(branch?: string) {
      const perDay = new Map<string, number>();
      for (const m of marks) {
        if (branch && branchOfList.get(m.list.id) !== branch) continue;
        const day = m.usedAt.slice(0, 10);
        perDay.set(day, (perDay.get(day) ?? 0) + 1);
      }
      return [...perDay].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, uses]) => ({ day, uses }));
    }
    async function reviewed(r: Repos, branch?: string) {
      const s = await r.usage.summary({ from: '2026-11-01', to: '2026-12-31', ...(branch ? { branch } : {}) });
      const perDay = s.perDay.filter((d) => d.uses > 0).map((d) => ({ day: d.day, uses: d.uses }));
      expect(s.usesInRange).toBe(perDay.reduce((a, d) => a + d.uses, 0));
      return perDay;
    }
    async function expectExact() {
      for (const branch of [undefined, 'North', 'South']) {
        const want = expected(branch);
        expect(want.length).toBeGreaterThan(0);
        // Every connection's review agrees, read at once (folding at once where a fold is due).
        const got = await Promise.all(all.map((r) => reviewed(r, branch)));
        for (const g of got) expect(g).toEqual(want);
      }
    }

    beforeAll(async () => {
      clock = new Date('2026-12-03T11:00:00.000Z');
      for (const branch of ['North', 'North', 'South', 'South']) {
        const { owner, card } = await newCard({ branch });
        const list = await activeList(card.id, 1000);
        branchOfList.set(list.id, branch);
        customerOfList.set(list.id, owner.id);
        lists.push(list);
      }
      lists = [...lists];
    });

    it('counts use marks raced from several connections exactly once, folded or not, and folds once when folds race', async () => {
      for (const day of days) expect((await race(day)).length).toBeGreaterThan(0);
      expect(marks.length).toBe(new Set(marks.map((m) => `${m.list.id}:${m.index}`)).size);
      // The first review folds, from every connection at once: one fold wins each step.
      await expectExact();
      const inRollup = async () =>
        (await e.peek<{ n: number | string | null }>('SELECT SUM(uses) AS n FROM code_use_days'))[0]?.n ?? 0;
      if (e.name === 'postgres') {
        // Closed days only: before the horizon (12 hours back from 11:00 is 2 December).
        expect(foldHorizon(clock)).toBe('2026-12-02');
        expect(await e.peek('SELECT folded_before FROM code_use_days_mark')).toEqual([{ folded_before: '2026-12-02' }]);
        expect(Number(await inRollup())).toBe(marks.filter((m) => m.usedAt < '2026-12-02').length);
      } else {
        expect(Number(await inRollup())).toBe(marks.length);
      }
      // More use marks in days already folded on SQLite, and on the days still open on PostgreSQL.
      await race('2026-12-03');
      await expectExact();

      // Folds racing on every connection: all use marks of the days due are folded once, by one winner.
      clock = new Date('2026-12-04T13:00:00.000Z');
      await race('2026-12-02', 2); // a mark stamped in a day that closes with this fold
      const folded = await Promise.all(all.map((r) => r.fold()));
      const due = e.name === 'postgres' ? marks.filter((m) => m.usedAt < '2026-12-04') : marks;
      expect(folded.filter((n) => n > 0)).toHaveLength(1);
      expect(Number(await inRollup())).toBe(due.length);
      expect(await Promise.all(all.map((r) => r.fold()))).toEqual(all.map(() => 0));
      await expectExact();
    });

    it('a use mark stamped before a fold but committed after it is counted once, live and then folded', async () => {
      clock = new Date('2026-12-04T20:00:00.000Z');
      await race('2026-12-04', 2);
      // The folds below run at 13:00 on 5 December and close 4 December.
      clock = new Date('2026-12-05T13:00:00.000Z');
      const list = lists[0]!;
      const index = (next.get(list.id) ?? 0) + 1;
      next.set(list.id, index);
      // Stamped a minute before those folds, its transaction still open while they run.
      const usedAt = new Date(clock.getTime() - 60_000).toISOString();
      const slow = await e.slowUse(list.id, index, usedAt);
      try {
        const others = lists.slice(1);
        const [folds] = await Promise.all([Promise.all(all.map((r) => r.fold())), race('2026-12-05', 2, others)]);
        // One fold closed the day (on SQLite the first fold took the new marks; no second one found any).
        expect(folds.filter((n) => n > 0)).toHaveLength(1);
        await expectExact(); // the slow mark is not committed: counted nowhere yet
      } finally {
        // Committed after the folds, and whatever happened above: an open transaction would hold
        // the list's row and stall every later test.
        await slow.commit();
      }
      marks.push({ list, index, usedAt });
      await expectExact();
      // A day and a margin later its day closes: it moves into the rollup, still counted once.
      clock = new Date(Date.parse('2026-12-06T00:00:00.000Z') + FOLD_MARGIN_MS + 60_000);
      // (SQLite's reviews above folded its new marks already; PostgreSQL's kept the open day live.)
      const closing = await Promise.all(all.map((r) => r.fold()));
      expect(closing.filter((n) => n > 0)).toHaveLength(e.name === 'postgres' ? 1 : 0);
      if (e.name === 'postgres')
        expect(await e.peek('SELECT folded_before FROM code_use_days_mark')).toEqual([{ folded_before: '2026-12-06' }]);
      const rolled = await e.peek<{ uses: number | string }>(
        `SELECT uses FROM code_use_days WHERE branch = 'North' AND day = '2026-12-05'`,
      );
      expect(Number(rolled[0]?.uses)).toBe(expected('North').find((d) => d.day === '2026-12-05')?.uses);
      await expectExact();
    });

    it('a customer who moves branch takes folded and live use marks along, even with folds racing the move', async () => {
      clock = new Date('2026-12-07T11:00:00.000Z');
      await race('2026-12-07', 2);
      const moved = lists[0]!;
      const owner = (await e.customers.get(customerOfList.get(moved.id)!))!;
      // The folds racing the move close 7 December.
      clock = new Date('2026-12-08T13:00:00.000Z');
      const [updated] = await Promise.all([
        e.customers.update(owner.id, owner.version, { ...owner, branch: 'South' }, by),
        ...e.others.map((r) => r.fold()),
      ]);
      expect(updated?.branch).toBe('South');
      branchOfList.set(moved.id, 'South');
      await expectExact();
      await race('2026-12-08', 2);
      clock = new Date('2026-12-09T13:00:00.000Z');
      await Promise.all(all.map((r) => r.fold()));
      await expectExact();
      const wrong = await e.peek<{ n: number | string }>('SELECT count(*) AS n FROM code_use_days WHERE uses <= 0');
      expect(Number(wrong[0]?.n)).toBe(0);
    });

    it('answers the tables, pages, export and totals alike on both engines (the same statements)', async () => {
      const range = { from: '2026-11-01', to: '2026-12-31' };
      for (const branch of ['North', 'South']) {
        const filter = { ...range, branch };
        const mine = lists.filter((l) => branchOfList.get(l.id) === branch);
        const usesOf = (l: ListRecord) => marks.filter((m) => m.list.id === l.id).length;
        const cards = await Promise.all(mine.map(async (l) => (await e.cards.byId(l.cardRef))!));
        const want = mine
          .map((l, i) => ({
            key: cards[i]!.cardId,
            n: cards[i]!.n,
            branch,
            cards: 1,
            issued: 1000,
            used: usesOf(l),
            remaining: 1000 - usesOf(l),
            refillsDue: 0,
            usesInRange: usesOf(l),
            rejections: 0,
            suspicions: 0,
            openSuspicions: 0,
            drift: null,
          }))
          .sort((a, b) => (a.key < b.key ? -1 : 1));
        const page = await e.others[0]!.usage.rows({
          filter,
          by: 'card',
          sort: 'key',
          desc: false,
          page: 1,
          pageSize: 50,
        });
        expect(page.total).toBe(mine.length);
        expect(page.rows).toMatchObject(want);
        // Sorted by an aggregate, descending, ties by key: the first page of one row.
        const top = [...want].sort((a, b) => b.usesInRange - a.usesInRange || (a.key < b.key ? 1 : -1))[0]!;
        const first = await e.usage.rows({ filter, by: 'card', sort: 'usesInRange', desc: true, page: 1, pageSize: 1 });
        expect(first.rows.map((r) => r.key)).toEqual([top.key]);
        // The export: every row in key order, a batch of one at a time.
        const exported = [];
        for await (const batch of e.usage.batches(filter, 'card', 1)) exported.push(...batch);
        expect(exported).toEqual(page.rows);
        // Grouped by customer and by branch: the same figures summed.
        const byCustomer = await e.usage.rows({
          filter,
          by: 'customer',
          sort: 'used',
          desc: true,
          page: 1,
          pageSize: 50,
        });
        expect(byCustomer.total).toBe(mine.length);
        expect(byCustomer.rows.map((r) => r.used)).toEqual(want.map((w) => w.used).sort((a, b) => b - a));
        const used = want.reduce((a, w) => a + w.used, 0);
        const byBranch = await e.usage.rows({ filter, by: 'branch', sort: 'key', desc: false, page: 1, pageSize: 50 });
        expect(byBranch).toMatchObject({
          total: 1,
          rows: [
            { key: branch, cards: mine.length, issued: 1000 * mine.length, used, remaining: 1000 * mine.length - used },
          ],
        });
        const summary = await e.usage.summary(filter);
        expect(summary).toMatchObject({
          cards: mine.length,
          issued: 1000 * mine.length,
          used,
          remaining: 1000 * mine.length - used,
          refillsDue: 0,
          usesInRange: used,
          rejections: 0,
          suspicions: 0,
          openSuspicions: 0,
          maxDrift: null,
          byBranch: [{ branch, cards: mine.length, remaining: 1000 * mine.length - used, refillsDue: 0 }],
        });
        // A search narrows to one card: its uses per day come straight from the use marks.
        const one = mine[0]!;
        const searched = await e.usage.summary({ ...range, q: cards[0]!.cardId });
        expect(searched.usesInRange).toBe(usesOf(one));
        expect(await e.usage.suspicions(filter, true, 1, 10)).toEqual({ total: 0, rows: [] });
      }
    });
  });
});

describe('the usage rollup on postgres: a branch move during a fold in flight', () => {
  it('waits for the fold to commit, then carries the folded days along: no use stays under the old branch', async () => {
    const database = await server.createDatabase('fold');
    const [a, b] = [0, 1].map(() => new PgDatabase({ url: server.url(database), maxConnections: 5 })) as [
      PgDatabase,
      PgDatabase,
    ];
    try {
      await migratePg(a);
      const customers = new PgCustomerRepository(a);
      const cards = new PgCardRepository(a);
      const lists = new PgListRepository(a);
      const owner = await customers.insert(customer({ branch: 'North' }), by);
      const card = await cards.insert({ cardId: '0F0F01', customerId: owner.id, n: 'N-F1', sealMode: 'card-key' }, by);
      const { list } = await lists.queue(
        {
          cardRef: card.id,
          listId: 'f'.repeat(32),
          length: 50,
          digits: 6,
          threshold: 2,
          expiresAt: '2027-12-03T00:00:00.000Z',
          trigger: 'first',
        },
        by,
      );
      await lists.recordSealing(list.id, { mkVersion: 1, sealedFor: `card:${card.id}`, bodyHash: 'ab'.repeat(32) }, at);
      for (const to of ['staged', 'committed', 'receipt_verified'] as const)
        await lists.transition(list.id, ['prepared', 'staged', 'committed'], to, at);
      await lists.activate(list.id, at);
      for (let i = 1; i <= 6; i++) await lists.markUse(list.id, i, 1, `2026-11-2${i}T09:00:00.000Z`);

      // A fold step of pool a, in flight: it has moved the mark and added its groups, not committed.
      const horizon = '2026-11-25';
      const groups = await a.query<{ branch: string; day: string; uses: number }>(FOLD_DAYS_READ_SQL, ['', horizon]);
      expect(groups.map((g) => g.branch)).toEqual(['North', 'North', 'North', 'North']);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let moved!: () => void;
      const inFlight = new Promise<void>((resolve) => (moved = resolve));
      const fold = a.transaction(async (tx) => {
        expect(await tx.query(FOLD_MOVE_SQL, [horizon, '', 0])).toHaveLength(1);
        for (const g of groups) await tx.query(ADD_SQL, [g.branch, g.day, g.uses]);
        moved();
        await gate;
      }, 'read committed');
      await inFlight;

      // Another desk moves the customer meanwhile: its trigger waits for the fold's mark.
      let settled = false;
      const move = new PgCustomerRepository(b)
        .update(owner.id, owner.version, { ...owner, branch: 'South' }, by)
        .finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      release();
      await fold;
      expect((await move)?.branch).toBe('South');

      // The folded days moved along; the review by branch equals the marks.
      const rollup = await server.admin<{ branch: string; uses: string }>(
        database,
        'SELECT branch, SUM(uses) AS uses FROM code_use_days GROUP BY branch ORDER BY branch',
      );
      expect(rollup.map((r) => [r.branch, Number(r.uses)])).toEqual([['South', 4]]);
      const review = new PgUsageRepository(b, { now: () => new Date('2026-11-26T13:00:00.000Z') });
      const uses = async (branch: string) =>
        (await review.summary({ from: '2026-11-01', to: '2026-11-30', branch })).usesInRange;
      expect([await uses('North'), await uses('South')]).toEqual([0, 6]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteCardRepository, type CardRepository } from '../../../src/core/cards/card.repository';
import { PgCardRepository } from '../../../src/core/cards/card.repository.pg';
import {
  SqliteCustomerRepository,
  type CustomerRepository,
  type NewCustomer,
} from '../../../src/core/customers/customer.repository';
import { PgCustomerRepository } from '../../../src/core/customers/customer.repository.pg';
import { openDatabase } from '../../../src/core/db/database';
import {
  SqliteMailerPrintLogRepository,
  type MailerPrintLogRepository,
} from '../../../src/core/mailer/mailer-print-log.repository';
import { PgMailerPrintLogRepository } from '../../../src/core/mailer/mailer-print-log.repository.pg';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { SqliteListRepository, type ListRepository } from '../../../src/core/lists/list.repository';
import { PgListRepository } from '../../../src/core/lists/list.repository.pg';
import {
  SqliteFailureCounterRepository,
  type FailureCounterRepository,
} from '../../../src/core/verification/failure.repository';
import { PgFailureCounterRepository } from '../../../src/core/verification/failure.repository.pg';
import {
  SqliteVerificationEventsRepository,
  type VerificationEventsRepository,
} from '../../../src/core/verification/verification-events.repository';
import { PgVerificationEventsRepository } from '../../../src/core/verification/verification-events.repository.pg';
import {
  SqliteChallengeRepository,
  type ChallengeRepository,
} from '../../../src/core/verification/challenge.repository';
import { PgChallengeRepository } from '../../../src/core/verification/challenge.repository.pg';
import {
  SqliteVerifyClientRepository,
  type VerifyClientRepository,
} from '../../../src/core/verification/verify-client.repository';
import { PgVerifyClientRepository } from '../../../src/core/verification/verify-client.repository.pg';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 1–2: the card and list repositories behave alike on both engines — the same
// answers, the same compare-and-set refusals — and a use mark stays exactly-once with many
// writers: on PostgreSQL, three pools (as three verification instances) racing for one code.

const at = '2026-12-03T10:00:00.000Z';
const by = { operator: 'mia', at };

interface Repos {
  customers: CustomerRepository;
  cards: CardRepository;
  lists: ListRepository;
  failures: FailureCounterRepository;
  events: VerificationEventsRepository;
  clients: VerifyClientRepository;
  challenges: ChallengeRepository;
  prints: MailerPrintLogRepository;
}
interface Engine extends Repos {
  /** Repositories over separate connections to the same data (other desks or instances). */
  others: Repos[];
  close(): Promise<void>;
}

let server: TestPostgres;
let customerSeq = 0;
const customer = (over: Partial<NewCustomer> = {}): NewCustomer => ({
  customerRef: `C-${++customerSeq}`,
  fullName: 'Ada Lovelace',
  birthDate: null,
  address: { line1: '1 Way', line2: null, postalCode: '1', city: 'London', country: 'GB' },
  email: null,
  mobile: null,
  branch: 'Branch 01',
  ...over,
});

const engines: Record<string, () => Promise<Engine>> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otac-repos-'));
    const file = join(dir, 'workstation.db');
    const db = openDatabase(file);
    const other = openDatabase(file);
    const repos = (d: typeof db): Repos => ({
      customers: new SqliteCustomerRepository(d),
      cards: new SqliteCardRepository(d),
      lists: new SqliteListRepository(d),
      failures: new SqliteFailureCounterRepository(d),
      events: new SqliteVerificationEventsRepository(d),
      clients: new SqliteVerifyClientRepository(d),
      challenges: new SqliteChallengeRepository(d),
      prints: new SqliteMailerPrintLogRepository(d),
    });
    return {
      ...repos(db),
      others: [repos(other)],
      close: async () => {
        db.close();
        other.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  postgres: async () => {
    const url = server.url(await server.createDatabase());
    const pools = [0, 1, 2].map(() => new PgDatabase({ url, maxConnections: 40 }));
    await migratePg(pools[0]!);
    const [db, ...rest] = pools as [PgDatabase, ...PgDatabase[]];
    const repos = (p: PgDatabase): Repos => ({
      customers: new PgCustomerRepository(p),
      cards: new PgCardRepository(p),
      lists: new PgListRepository(p),
      failures: new PgFailureCounterRepository(p),
      events: new PgVerificationEventsRepository(p),
      clients: new PgVerifyClientRepository(p),
      challenges: new PgChallengeRepository(p),
      prints: new PgMailerPrintLogRepository(p),
    });
    return {
      ...repos(db),
      others: rest.map(repos),
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

describe.each(Object.keys(engines))('card and list repositories on %s', (name) => {
  let e: Engine;
  beforeAll(async () => {
    e = await engines[name]!();
  });
  afterAll(async () => {
    await e?.close();
  });

  let cardSeq = 0;
  async function newCard() {
    const customerId = (await e.customers.insert(customer(), by)).id;
    const id = (++cardSeq).toString(16).padStart(4, '0').toUpperCase();
    return e.cards.insert({ cardId: `0102${id}`, customerId, n: `N-${name}-${id}`, sealMode: 'card-key' }, by);
  }
  async function activeList(cardRef: number, length = 10) {
    const { list } = await e.lists.queue(
      {
        cardRef,
        listId: `${cardRef.toString(16)}`.padStart(32, 'a'),
        length,
        digits: 6,
        threshold: 2,
        expiresAt: '2027-12-03T00:00:00.000Z',
        trigger: 'first',
      },
      by,
    );
    await e.lists.recordSealing(list.id, { mkVersion: 1, sealedFor: `card:${cardRef}`, bodyHash: 'cd'.repeat(32) }, at);
    for (const to of ['staged', 'committed', 'receipt_verified'] as const)
      await e.lists.transition(list.id, [list.state, 'prepared', 'staged', 'committed'], to, at);
    const active = await e.lists.activate(list.id, at);
    if (!active) throw new Error('list did not activate');
    return active;
  }

  it('inserts a card, finds it by id, N and card id, and refuses a taken card id or N', async () => {
    const card = await newCard();
    expect(card).toMatchObject({ state: 'enrolling', enrolledBy: 'mia', version: 1, publicKey: null });
    expect(await e.cards.byN(card.n)).toEqual(card);
    expect(await e.cards.byCardId(card.cardId)).toEqual(card);
    expect(await e.cards.byId(card.id)).toEqual(card);
    await expect(e.cards.insert({ ...card, n: 'N-other' }, by)).rejects.toMatchObject({ what: 'card_id' });
    await expect(e.cards.insert({ ...card, cardId: '0A0B0C' }, by)).rejects.toMatchObject({ what: 'n' });
  });

  it('moves a card by compare-and-set: of concurrent transitions from one state exactly one wins', async () => {
    const card = await newCard();
    const all = [e, ...e.others];
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        all[i % all.length]!.cards.transition(card.id, ['enrolling'], i % 2 ? 'awaiting_activation' : 'blocked', at),
      ),
    );
    const winners = results.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    expect((await e.cards.byId(card.id))?.state).toBe(winners[0]?.state);
    expect((await e.cards.byId(card.id))?.version).toBe(2);
  });

  it('queues one list per card even when desks queue at once, and activates it', async () => {
    const card = await newCard();
    const all = [e, ...e.others];
    const queued = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        all[i % all.length]!.lists.queue(
          {
            cardRef: card.id,
            listId: `${i}`.padStart(32, 'b'),
            length: 10,
            digits: 6,
            threshold: 2,
            expiresAt: '2027-01-01T00:00:00.000Z',
            trigger: 'first',
          },
          by,
        ),
      ),
    );
    expect(queued.filter((q) => q.created)).toHaveLength(1);
    expect(new Set(queued.map((q) => q.list.id)).size).toBe(1);
    expect(await e.lists.forCard(card.id)).toHaveLength(1);
  });

  it('a code of an active list is accepted exactly once by 64 concurrent use marks over every connection', async () => {
    const card = await newCard();
    const list = await activeList(card.id);
    const all = [e, ...e.others];
    const marks = await Promise.all(
      Array.from({ length: 64 }, (_, i) => all[i % all.length]!.lists.markUse(list.id, 3, 10, at)),
    );
    expect(marks.filter((m) => m !== null)).toHaveLength(1);
    const after = await e.lists.byId(list.id);
    expect(after).toMatchObject({ nextIndex: 4, usedCount: 1, version: list.version + 1 });
    expect(await e.lists.isUsed(list.id, 3)).toBe(true);
    // Forward-only: an earlier index is gone for good, the next one still wins.
    expect(await e.lists.markUse(list.id, 2, 10, at)).toBeNull();
    expect(await e.lists.markUse(list.id, 4, 10, at)).not.toBeNull();
  });

  it('different codes from many connections each count once, and the refill flag rises at the threshold', async () => {
    const card = await newCard();
    const list = await activeList(card.id, 10);
    const all = [e, ...e.others];
    // Each index raced by four writers: 1..8 used in order, each exactly once.
    for (let index = 1; index <= 8; index++) {
      const won = await Promise.all(
        Array.from({ length: 4 }, (_, i) => all[i % all.length]!.lists.markUse(list.id, index, 1, at)),
      );
      expect(won.filter((m) => m !== null)).toHaveLength(1);
    }
    expect(await e.lists.byId(list.id)).toMatchObject({ usedCount: 8, nextIndex: 9, refillDue: true });
  });

  it('refuses a use mark on a list that is not active, with nothing changed', async () => {
    const card = await newCard();
    const list = await activeList(card.id);
    const disabled = await e.lists.transition(list.id, ['active'], 'disabled', at);
    expect(disabled?.state).toBe('disabled');
    expect(await e.lists.markUse(list.id, 1, 10, at)).toBeNull();
    // Migration 0018's trigger: a disabled list stays disabled, whoever writes.
    await expect(e.lists.transition(list.id, ['disabled'], 'superseded', at)).rejects.toThrow(/stays disabled/);
    expect(await e.lists.byId(list.id)).toEqual(disabled);
    expect((await e.lists.current(card.id))?.id).toBe(list.id);
  });

  it('counts failures from every connection exactly, locks at the limit, and only the desk’s clear lifts it', async () => {
    const card = await newCard();
    const all = [e, ...e.others];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => all[i % all.length]!.failures.recordFailure(card.id, 5, at)),
    );
    const state = await e.failures.get(card.id);
    expect(state).toMatchObject({ consecutive: 12, lastFailureAt: at, lockedAt: at });
    await e.failures.recordSuccess(card.id);
    expect((await e.failures.get(card.id))?.consecutive).toBe(12);
    const cleared = await Promise.all(all.map((r) => r.failures.clear(card.id)));
    expect(cleared.filter((c) => c !== null)).toHaveLength(1);
    expect(await e.failures.get(card.id)).toMatchObject({ consecutive: 0, lockedAt: null });
  });

  it('records a refusal with its suspicion, counts refusals by reason, and resolves an event once', async () => {
    const card = await newCard();
    const list = await activeList(card.id);
    const raised = await e.events.recordRefusal(
      { cardRef: card.id, listRef: list.id, reason: 'already_used', source: 'client:k1', at },
      { cardRef: card.id, listRef: list.id, kind: 'code_replayed', codeIndex: 3, source: 'client:k1', at },
    );
    expect(raised).toMatchObject({ kind: 'code_replayed', codeIndex: 3, resolvedAt: null });
    await e.events.recordRefusal(
      { cardRef: card.id, listRef: list.id, reason: 'wrong_code', source: 'desk', at },
      null,
    );
    await e.events.recordRefusal(
      { cardRef: card.id, listRef: list.id, reason: 'wrong_code', source: 'desk', at },
      null,
    );
    expect(await e.events.refusalCountsForCard(card.id)).toEqual({ already_used: 1, wrong_code: 2 });
    const drift = await e.events.raise({
      cardRef: card.id,
      listRef: list.id,
      kind: 'counter_drift',
      drift: 4,
      source: 'desk',
      at,
    });
    expect((await e.events.openSuspicionsForCard(card.id)).map((s) => s.id)).toEqual([drift.id, raised!.id]);
    const all = [e, ...e.others];
    const resolved = await Promise.all(all.map((r) => r.events.resolve(drift.id, 'dismissed', 'mia', at)));
    expect(resolved.filter((r) => r !== null)).toHaveLength(1);
    const rest = await e.events.resolveOpenForCard(card.id, 'table_disabled', 'mia', at);
    expect(rest.map((r) => r.id)).toEqual([raised!.id]);
    expect(await e.events.openSuspicionsForCard(card.id)).toEqual([]);
    expect((await e.events.suspicionsForCard(card.id)).map((s) => s.resolution).sort()).toEqual([
      'dismissed',
      'table_disabled',
    ]);
  });

  it('keeps customers alike: reference taken, compare-and-set edits, folded-name search, duplicates', async () => {
    const ref = `R-${name}`;
    const zoe = await e.customers.insert(
      customer({ customerRef: ref, fullName: 'Zoë Smith-Jones', email: 'Zoe@Example.org' }),
      by,
    );
    await expect(e.customers.insert(customer({ customerRef: ref }), by)).rejects.toThrow(/reference exists/);
    const pct = await e.customers.insert(customer({ fullName: '100% Ltd', birthDate: '1990-01-02' }), by);
    // Two desks edit the same version: one wins, the other is told (null), nothing merged.
    const all = [e, ...e.others];
    const edits = await Promise.all(
      all.map((r, i) =>
        r.customers.update(zoe.id, zoe.version, { ...zoe, address: { ...zoe.address, city: `City ${i}` } }, by),
      ),
    );
    expect(edits.filter((x) => x !== null)).toHaveLength(1);
    expect((await e.customers.get(zoe.id))?.version).toBe(2);
    // Accents and case folded, a word inside a double-barrelled name, LIKE's % taken literally.
    const byWords = async (...nameWords: string[]) =>
      (await e.customers.search({ nameWords, sort: 'name', direction: 'asc', limit: 50, offset: 0 })).rows.map(
        (r) => r.id,
      );
    expect(await byWords('zoe')).toEqual([zoe.id]);
    expect(await byWords('jon')).toEqual([zoe.id]);
    expect(await byWords('100%')).toEqual([pct.id]);
    expect(await byWords('10%0')).toEqual([]);
    const card = await e.cards.insert(
      { cardId: `0EEE${name.length}`, customerId: zoe.id, n: `N-Z-${name}`, sealMode: 'card-key' },
      by,
    );
    const viaN = await e.customers.search({ n: card.n, sort: 'name', direction: 'asc', limit: 10, offset: 0 });
    expect(viaN).toMatchObject({ total: 1, rows: [{ id: zoe.id, cards: 1 }] });
    // Empty birth dates sort last in both directions; id breaks ties.
    for (const direction of ['asc', 'desc'] as const) {
      const page = await e.customers.search({ sort: 'birthDate', direction, limit: 500, offset: 0 });
      expect(page.rows.at(-1)?.birthDate ?? null).toBeNull();
      expect(page.rows[0]?.id).toBe(pct.id);
    }
    const dupes = await e.customers.possibleDuplicates(
      { fullName: 'x', birthDate: null, customerRef: null, email: 'zoe@EXAMPLE.org', mobile: null },
      null,
      10,
    );
    expect(dupes.map((d) => d.id)).toEqual([zoe.id]);
    expect(
      await e.customers.possibleDuplicates(
        { fullName: 'x', birthDate: null, customerRef: null, email: 'zoe@example.org', mobile: null },
        zoe.id,
        10,
      ),
    ).toEqual([]);
  });

  it('a verification client revoked through one connection is revoked for all, once', async () => {
    const keyId = `k${name}`.padEnd(16, '0').slice(0, 16);
    const made = await e.clients.insert({
      keyId,
      keyHash: 'ab'.repeat(32),
      name: 'Online banking',
      scopes: ['verify', 'read'],
      createdAt: at,
      createdBy: 'mia',
    });
    expect(made).toMatchObject({ keyId, scopes: ['verify', 'read'], revokedAt: null });
    const all = [e, ...e.others];
    const revoked = await Promise.all(all.map((r) => r.clients.revoke(keyId, 'mia', at)));
    expect(revoked.filter((r) => r !== null)).toHaveLength(1);
    for (const r of all) expect((await r.clients.byKeyId(keyId))?.revokedAt).toBe(at);
    expect((await e.clients.all()).map((c) => c.keyId)).toContain(keyId);
  });

  it('a challenge is taken by one answer of many racing, and never after it expires', async () => {
    const card = await newCard();
    const make = (id: string, expiresAt: string) =>
      e.challenges.create({
        challengeId: id,
        cardRef: card.id,
        challenge: 'c'.repeat(32),
        source: 'client:k',
        issuedAt: at,
        expiresAt,
      });
    const open = await make(`${name}`.padEnd(32, '1'), '2026-12-03T10:05:00.000Z');
    const all = [e, ...e.others];
    const takes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        all[i % all.length]!.challenges.take(open.challengeId, '2026-12-03T10:01:00.000Z'),
      ),
    );
    expect(takes.filter((t) => t !== null)).toHaveLength(1);
    await e.challenges.settle(open.challengeId, 'accepted');
    await e.challenges.settle(open.challengeId, 'refused');
    expect((await e.challenges.byChallengeId(open.challengeId))?.outcome).toBe('accepted');
    const late = await make(`${name}`.padEnd(32, '2'), '2026-12-03T10:00:30.000Z');
    expect(await e.challenges.take(late.challengeId, '2026-12-03T10:01:00.000Z')).toBeNull();
    expect((await e.challenges.byChallengeId(late.challengeId))?.answeredAt).toBeNull();
  });

  it('reserves a card’s mailer once across desks, finishes it once, and shows it in the queue', async () => {
    const card = await newCard();
    await e.cards.transition(card.id, ['enrolling'], 'awaiting_activation', at);
    const print = {
      cardRef: card.id,
      n: card.n,
      keySn: 1,
      kind: 'initial' as const,
      reason: null,
      operator: 'mia',
      approver: 'max',
      batch: null,
      at,
    };
    const all = [e, ...e.others];
    const reserved = await Promise.all(all.flatMap((r) => [r.prints.reserve(print), r.prints.reserve(print)]));
    const won = reserved.filter((r) => r !== null);
    expect(won).toHaveLength(1);
    expect(won[0]?.serial).toMatch(/^M-\d{6}$/);
    const finished = await Promise.all(all.map((r) => r.prints.finish(won[0]!.id, 'printed', at, null)));
    expect(finished.filter((f) => f !== null)).toHaveLength(1);
    const queue = await e.prints.queue({ states: ['awaiting_activation'] });
    expect(queue.find((q) => q.cardRef === card.id)).toMatchObject({
      cardId: card.cardId,
      n: card.n,
      state: 'awaiting_activation',
      customerName: 'Ada Lovelace',
      lastResult: 'printed',
      lastSerial: won[0]!.serial,
      prints: 1,
    });
    const page = await e.prints.page({ sort: 'serial', desc: true, limit: 5, offset: 0 });
    expect(page.total).toBeGreaterThanOrEqual(1);
    expect(page.rows[0]?.serial).toBe(won[0]!.serial);
  });
});

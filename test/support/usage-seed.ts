import type { Statement } from 'better-sqlite3';
import type { Database } from '../../src/core/db/database';
import { nameKey } from '../../src/core/customers/customer.repository';
import { REJECTION_REASONS, type RejectionReason } from '../../src/shared/contract/usage.contract';
import type { DeskSql } from './test-engine';

// A quick, deterministic usage history for the usage review's tests: customers in branches, cards,
// a superseded and an active list per card, use marks, refusals by reason, suspicion events. Written
// with plain SQL in one transaction (thousands of rows in well under a second), and returned as
// plain records too, so a test can compute what the review must show on its own, independently.

export interface SeededCard {
  id: number;
  cardId: string;
  n: string;
  customerId: number;
  customer: string;
  customerRef: string;
  branch: string;
  lists: {
    id: number;
    state: 'active' | 'superseded' | 'prepared';
    length: number;
    used: number;
    refillDue: boolean;
  }[];
  uses: string[];
}
export interface SeededRejection {
  cardRef: number | null;
  reason: RejectionReason;
  at: string;
}
export interface SeededSuspicion {
  cardRef: number;
  kind: 'code_replayed' | 'disabled_table_used' | 'blocked_card_used' | 'counter_drift';
  drift: number | null;
  occurredAt: string;
  resolved: boolean;
}
export interface UsageSeed {
  cards: SeededCard[];
  rejections: SeededRejection[];
  suspicions: SeededSuspicion[];
  days: string[];
  branches: string[];
}

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One insert of the seed: its SQL with `?` placeholders (valid on both engines), and whether it returns the new id. */
interface SeedInsert {
  readonly sql: string;
  readonly params: unknown[];
  readonly returnsId: boolean;
}

type SeedOptions = { cards: number; firstDay?: string; days?: number; branches?: string[]; seed?: number };

/**
 * The seed as a sequence of inserts, each answered with the new row's id (0 when it returns none):
 * one plan for both engines, so the history is the same row for row on SQLite and PostgreSQL. A
 * list's use marks are one multi-row insert, so the PostgreSQL seed makes a few round trips per card.
 */
function* seedPlan(opts: SeedOptions): Generator<SeedInsert, UsageSeed, number> {
  const rnd = prng(opts.seed ?? 7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const branches = opts.branches ?? ['Bern', 'Geneva', 'Zurich'];
  const first = new Date(`${opts.firstDay ?? '2026-11-01'}T00:00:00.000Z`);
  const days = Array.from({ length: opts.days ?? 30 }, (_, i) =>
    new Date(first.getTime() + i * 86_400_000).toISOString().slice(0, 10),
  );
  const timeOn = (day: string) =>
    new Date(new Date(`${day}T00:00:00.000Z`).getTime() + Math.floor(rnd() * 86_400_000)).toISOString();
  const created = `${days[0]}T00:00:00.000Z`;
  const surnames = ['Meier', 'Keller', 'Rossi', 'Dubois', 'Müller', 'Weber', 'Bianchi', 'Favre'];
  const given = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Niklaus', 'Frances', 'Donald'];

  const withId = (sql: string, ...params: unknown[]): SeedInsert => ({
    sql: `${sql} RETURNING id`,
    params,
    returnsId: true,
  });
  const plain = (sql: string, ...params: unknown[]): SeedInsert => ({ sql, params, returnsId: false });
  const insCustomer = (...p: unknown[]) =>
    withId(
      `INSERT INTO customers (customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
       created_at, created_by, updated_at) VALUES (?, ?, ?, 'Main street 1', '3000', 'Bern', 'CH', ?, ?, 'seed', ?)`,
      ...p,
    );
  const insCard = (...p: unknown[]) =>
    withId(
      `INSERT INTO cards (card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
     VALUES (?, ?, ?, 'active', ?, 'seed', ?)`,
      ...p,
    );
  const insList = (...p: unknown[]) =>
    withId(
      `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state, queued_by_trigger,
       mk_version, sealed_for, body_hash, next_index, used_count, refill_due, created_at, created_by, state_changed_at)
     VALUES (?, ?, ?, ?, 8, 20, '2030-01-01T00:00:00.000Z', ?, 'first', ?, ?, ?, ?, ?, ?, ?, 'seed', ?)`,
      ...p,
    );
  const insUses = (listRef: number, ats: string[]) =>
    plain(
      `INSERT INTO code_uses (list_ref, code_index, used_at) VALUES ${ats.map(() => '(?, ?, ?)').join(', ')}`,
      ...ats.flatMap((at, i) => [listRef, i + 1, at]),
    );
  const insRejections = (rows: SeededRejection[]) =>
    plain(
      `INSERT INTO verify_rejections (card_ref, list_ref, reason, source, at) VALUES ${rows.map(() => '(?, NULL, ?, ?, ?)').join(', ')}`,
      ...rows.flatMap((r) => [r.cardRef, r.reason, 'client:seed', r.at]),
    );
  const insSuspicion = (...p: unknown[]) =>
    plain(
      `INSERT INTO suspicion_events (card_ref, list_ref, kind, code_index, drift, source, occurred_at, resolved_at, resolved_by, resolution)
     VALUES (?, NULL, ?, NULL, ?, 'desk', ?, ?, ?, ?)`,
      ...p,
    );

  const out: UsageSeed = { cards: [], rejections: [], suspicions: [], days, branches };
  let listSerial = 0;
  for (let i = 0; i < opts.cards; i++) {
    const customer = `${pick(given)} ${pick(surnames)} ${i}`;
    const customerRef = `R${String(i).padStart(6, '0')}`;
    const branch = pick(branches);
    const customerId = yield insCustomer(customerRef, customer, nameKey(customer), branch, created, created);
    const cardId = `SEED${String(i).padStart(8, '0')}`;
    const n = `N${String(i).padStart(9, '0')}`;
    const id = yield insCard(cardId, customerId, n, created, created);
    const card: SeededCard = { id, cardId, n, customerId, customer, customerRef, branch, lists: [], uses: [] };
    const shapes: { state: SeededCard['lists'][number]['state']; length: number; used: number }[] = [];
    if (rnd() < 0.3) shapes.push({ state: 'superseded', length: 50, used: 50 });
    if (rnd() < 0.9) shapes.push({ state: 'active', length: 100, used: Math.floor(rnd() * 101) });
    if (rnd() < 0.1) shapes.push({ state: 'prepared', length: 100, used: 0 });
    for (const [seq, s] of shapes.entries()) {
      const listId = (++listSerial).toString(16).padStart(32, '0');
      const sealed = s.state !== 'prepared';
      const refillDue = s.state === 'active' && s.length - s.used <= 20;
      const listRef = yield insList(
        id,
        seq + 1,
        listId,
        s.length,
        s.state,
        sealed ? 1 : null,
        sealed ? 'card-key' : null,
        sealed ? 'ab'.repeat(32) : null,
        s.used + 1,
        s.used,
        refillDue ? 1 : 0,
        created,
        created,
      );
      card.lists.push({ id: listRef, state: s.state, length: s.length, used: s.used, refillDue });
      const ats = Array.from({ length: s.used }, () => timeOn(pick(days)));
      if (ats.length) yield insUses(listRef, ats);
      card.uses.push(...ats);
    }
    const refused: SeededRejection[] = [];
    for (let r = Math.floor(rnd() * 4); r > 0; r--)
      refused.push({ cardRef: id, reason: pick(REJECTION_REASONS.slice(1)), at: timeOn(pick(days)) });
    if (refused.length) yield insRejections(refused);
    out.rejections.push(...refused);
    if (rnd() < 0.08) {
      const kind = pick(['code_replayed', 'disabled_table_used', 'blocked_card_used', 'counter_drift'] as const);
      const s: SeededSuspicion = {
        cardRef: id,
        kind,
        drift: kind === 'counter_drift' ? Math.floor(rnd() * 7) - 1 : null,
        occurredAt: timeOn(pick(days)),
        resolved: rnd() < 0.3,
      };
      yield insSuspicion(
        id,
        kind,
        s.drift,
        s.occurredAt,
        s.resolved ? s.occurredAt : null,
        s.resolved ? 'maria' : null,
        s.resolved ? 'dismissed' : null,
      );
      out.suspicions.push(s);
    }
    out.cards.push(card);
  }
  // Refusals of an N nobody issued: no card.
  const unknown = Array.from({ length: Math.ceil(opts.cards / 20) }, (): SeededRejection => ({
    cardRef: null,
    reason: 'unknown_n',
    at: timeOn(pick(days)),
  }));
  if (unknown.length) yield insRejections(unknown);
  out.rejections.push(...unknown);
  return out;
}

/** The seed on a SQLite database, in one transaction (thousands of rows in well under a second). */
export function seedUsage(db: Database, opts: SeedOptions): UsageSeed {
  const statements = new Map<string, Statement<unknown[]>>();
  const statement = (sql: string) => {
    let st = statements.get(sql);
    if (!st) statements.set(sql, (st = db.prepare<unknown[]>(sql)));
    return st;
  };
  return db.transaction(() => {
    const plan = seedPlan(opts);
    let step = plan.next();
    while (!step.done) {
      const { sql, params, returnsId } = step.value;
      const id = returnsId ? (statement(sql).get(...params) as { id: number }).id : (statement(sql).run(...params), 0);
      step = plan.next(id);
    }
    return step.value;
  })();
}

/** The same seed on the desk's database, whichever engine it runs on (the look-up of test-engine.ts). */
export async function seedDeskUsage(sql: DeskSql, opts: SeedOptions): Promise<UsageSeed> {
  // On SQLite the look-up is the desk's own connection: one transaction, as seedUsage. On PostgreSQL
  // each statement may take another pooled connection, so each commits on its own.
  const oneTransaction = sql.repos.engine === 'sqlite';
  if (oneTransaction) await sql.run('BEGIN');
  try {
    const plan = seedPlan(opts);
    let step = plan.next();
    while (!step.done) {
      const { sql: text, params, returnsId } = step.value;
      let id = 0;
      if (returnsId) id = (await sql.get<{ id: number }>(text, ...params))!.id;
      else await sql.run(text, ...params);
      step = plan.next(id);
    }
    if (oneTransaction) await sql.run('COMMIT');
    return step.value;
  } catch (err) {
    if (oneTransaction) await sql.run('ROLLBACK');
    throw err;
  }
}

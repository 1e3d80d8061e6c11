import { openDatabase, type Database } from '../../src/core/db/database';
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

export function seedUsage(
  db: Database,
  opts: { cards: number; firstDay?: string; days?: number; branches?: string[]; seed?: number },
): UsageSeed {
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

  const insCustomer = db.prepare(
    `INSERT INTO customers (customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
       created_at, created_by, updated_at) VALUES (?, ?, ?, 'Main street 1', '3000', 'Bern', 'CH', ?, ?, 'seed', ?) RETURNING id`,
  );
  const insCard = db.prepare(
    `INSERT INTO cards (card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
     VALUES (?, ?, ?, 'active', ?, 'seed', ?) RETURNING id`,
  );
  const insList = db.prepare(
    `INSERT INTO code_lists (card_ref, seq, list_id, length, digits, threshold, expires_at, state, queued_by_trigger,
       mk_version, sealed_for, body_hash, next_index, used_count, refill_due, created_at, created_by, state_changed_at)
     VALUES (?, ?, ?, ?, 8, 20, '2030-01-01T00:00:00.000Z', ?, 'first', ?, ?, ?, ?, ?, ?, ?, 'seed', ?) RETURNING id`,
  );
  const insUse = db.prepare('INSERT INTO code_uses (list_ref, code_index, used_at) VALUES (?, ?, ?)');
  const insRejection = db.prepare(
    'INSERT INTO verify_rejections (card_ref, list_ref, reason, source, at) VALUES (?, ?, ?, ?, ?)',
  );
  const insSuspicion = db.prepare(
    `INSERT INTO suspicion_events (card_ref, list_ref, kind, code_index, drift, source, occurred_at, resolved_at, resolved_by, resolution)
     VALUES (?, NULL, ?, NULL, ?, 'desk', ?, ?, ?, ?)`,
  );

  const out: UsageSeed = { cards: [], rejections: [], suspicions: [], days, branches };
  let listSerial = 0;
  db.transaction(() => {
    for (let i = 0; i < opts.cards; i++) {
      const customer = `${pick(given)} ${pick(surnames)} ${i}`;
      const customerRef = `R${String(i).padStart(6, '0')}`;
      const branch = pick(branches);
      const { id: customerId } = insCustomer.get(
        customerRef,
        customer,
        nameKey(customer),
        branch,
        created,
        created,
      ) as {
        id: number;
      };
      const cardId = `SEED${String(i).padStart(8, '0')}`;
      const n = `N${String(i).padStart(9, '0')}`;
      const { id } = insCard.get(cardId, customerId, n, created, created) as { id: number };
      const card: SeededCard = { id, cardId, n, customerId, customer, customerRef, branch, lists: [], uses: [] };
      const shapes: { state: SeededCard['lists'][number]['state']; length: number; used: number }[] = [];
      if (rnd() < 0.3) shapes.push({ state: 'superseded', length: 50, used: 50 });
      if (rnd() < 0.9) shapes.push({ state: 'active', length: 100, used: Math.floor(rnd() * 101) });
      if (rnd() < 0.1) shapes.push({ state: 'prepared', length: 100, used: 0 });
      shapes.forEach((s, seq) => {
        const listId = (++listSerial).toString(16).padStart(32, '0');
        const sealed = s.state !== 'prepared';
        const refillDue = s.state === 'active' && s.length - s.used <= 20;
        const { id: listRef } = insList.get(
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
        ) as { id: number };
        card.lists.push({ id: listRef, state: s.state, length: s.length, used: s.used, refillDue });
        for (let k = 1; k <= s.used; k++) {
          const at = timeOn(pick(days));
          insUse.run(listRef, k, at);
          card.uses.push(at);
        }
      });
      for (let r = Math.floor(rnd() * 4); r > 0; r--) {
        const rej: SeededRejection = { cardRef: id, reason: pick(REJECTION_REASONS.slice(1)), at: timeOn(pick(days)) };
        insRejection.run(id, null, rej.reason, 'client:seed', rej.at);
        out.rejections.push(rej);
      }
      if (rnd() < 0.08) {
        const kind = pick(['code_replayed', 'disabled_table_used', 'blocked_card_used', 'counter_drift'] as const);
        const s: SeededSuspicion = {
          cardRef: id,
          kind,
          drift: kind === 'counter_drift' ? Math.floor(rnd() * 7) - 1 : null,
          occurredAt: timeOn(pick(days)),
          resolved: rnd() < 0.3,
        };
        insSuspicion.run(
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
    for (let r = 0; r < Math.ceil(opts.cards / 20); r++) {
      const rej: SeededRejection = { cardRef: null, reason: 'unknown_n', at: timeOn(pick(days)) };
      insRejection.run(null, null, 'unknown_n', 'client:seed', rej.at);
      out.rejections.push(rej);
    }
  })();
  return out;
}

type SeedOptions = Parameters<typeof seedUsage>[1];

/**
 * seedUsage on a desk of either engine (issue 12): the same history, made by seedUsage in an in-memory
 * SQLite database and copied into the desk's database in batches, every reference renumbered as the
 * desk's database numbered the rows it points at.
 */
export async function seedDeskUsage(sql: DeskSql, opts: SeedOptions): Promise<UsageSeed> {
  const mem = openDatabase(':memory:');
  try {
    const seed = seedUsage(mem, opts);
    const customers = await copyRows(sql, mem, 'customers', 'customer_ref', {}, [
      'customer_ref',
      'full_name',
      'name_key',
      'address_line1',
      'postal_code',
      'city',
      'country',
      'branch',
      'created_at',
      'created_by',
      'updated_at',
    ]);
    const cards = await copyRows(sql, mem, 'cards', 'card_id', { customer_id: customers }, [
      'card_id',
      'customer_id',
      'n',
      'state',
      'enrolled_at',
      'enrolled_by',
      'state_changed_at',
    ]);
    const lists = await copyRows(sql, mem, 'code_lists', 'list_id', { card_ref: cards }, [
      'card_ref',
      'seq',
      'list_id',
      'length',
      'digits',
      'threshold',
      'expires_at',
      'state',
      'queued_by_trigger',
      'mk_version',
      'sealed_for',
      'body_hash',
      'next_index',
      'used_count',
      'refill_due',
      'created_at',
      'created_by',
      'state_changed_at',
    ]);
    await copyRows(sql, mem, 'code_uses', null, { list_ref: lists }, ['list_ref', 'code_index', 'used_at']);
    await copyRows(sql, mem, 'verify_rejections', null, { card_ref: cards, list_ref: lists }, [
      'card_ref',
      'list_ref',
      'reason',
      'source',
      'at',
    ]);
    await copyRows(sql, mem, 'suspicion_events', null, { card_ref: cards, list_ref: lists }, [
      'card_ref',
      'list_ref',
      'kind',
      'code_index',
      'drift',
      'source',
      'occurred_at',
      'resolved_at',
      'resolved_by',
      'resolution',
    ]);
    // A bulk load is followed by fresh statistics, as an operator's import would be: else PostgreSQL
    // plans the review's queries for the empty tables the template had until autovacuum comes by.
    if (sql.repos.engine === 'postgres') await sql.run('ANALYZE');
    const to = (ids: Map<number, number>, id: number) => ids.get(id) ?? fail(`no copy of row ${id}`);
    return {
      ...seed,
      cards: seed.cards.map((c) => ({
        ...c,
        id: to(cards, c.id),
        customerId: to(customers, c.customerId),
        lists: c.lists.map((l) => ({ ...l, id: to(lists, l.id) })),
      })),
      rejections: seed.rejections.map((r) => ({ ...r, cardRef: r.cardRef === null ? null : to(cards, r.cardRef) })),
      suspicions: seed.suspicions.map((s) => ({ ...s, cardRef: to(cards, s.cardRef) })),
    };
  } finally {
    mem.close();
  }
}

function fail(message: string): never {
  throw new Error(`seedDeskUsage: ${message}`);
}

/**
 * The rows of `table` from `from` into the desk's database, 500 a statement, with the columns in
 * `remap` pointed at the copies; returns each copied row's new id by its old one (matched on `key`).
 */
async function copyRows(
  sql: DeskSql,
  from: Database,
  table: string,
  key: string | null,
  remap: Record<string, Map<number, number>>,
  columns: string[],
): Promise<Map<number, number>> {
  const rows = from
    .prepare(`SELECT ${key ? 'id, ' : ''}${columns.join(', ')} FROM ${table} ORDER BY rowid`)
    .all() as Record<string, unknown>[];
  const ids = new Map<number, number>();
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let at = 0; at < rows.length; at += 500) {
    const batch = rows.slice(at, at + 500);
    const params = batch.flatMap((row) =>
      columns.map((c) => {
        const v = row[c];
        const map = remap[c];
        return map && typeof v === 'number' ? (map.get(v) ?? fail(`${table}.${c} ${v} has no copy`)) : v;
      }),
    );
    const insert = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${batch.map(() => tuple).join(', ')}`;
    if (!key) {
      await sql.run(insert, ...params);
      continue;
    }
    const made = await sql.all<{ id: number; seed_key: unknown }>(
      `${insert} RETURNING id, ${key} AS seed_key`,
      ...params,
    );
    const byKey = new Map(made.map((m) => [m.seed_key, m.id]));
    for (const row of batch) ids.set(row['id'] as number, byKey.get(row[key]) ?? fail(`${table} ${String(row[key])}`));
  }
  return ids;
}

import { join } from 'node:path';
import { openDatabase, type Database } from '../src/core/db/database';
import { foldUses } from '../src/core/usage/usage-rollup';

// npm run seed:usage -- --cards 1000000 --uses 20000000 --dir <data directory> [options]
// (issue 10 item 5; docs/verification-service.md "Scale").
//
// Seeds a workstation database at the size the usage review and the verification service must stay
// fast at: customers spread over branches, one card each, the card's code list as the desk makes it
// (state active, mk_version and sealed_for = `card:<N>` as the keystore records them, so `verify`
// computes these cards' codes through the keystore like any other), the uses of those lists spread
// over time (code_uses, next_index and used_count agreeing), refusals by reason (verify_rejections)
// and suspicion events (migration 0012), some resolved. Appends to what the database holds (ids
// continue after the highest), so it can run on a desk's data directory.
//
// Everything is generated inside SQLite (recursive CTEs, one INSERT … SELECT per table and chunk):
// no row crosses into JavaScript, which is what makes 20 million rows a matter of seconds. The
// synthetic parts, said plainly: names, addresses and card ids are made up; body_hash is a
// placeholder (the real one is SHA-256 of a body only the keystore can build), so seeded lists
// cannot be pushed to a card, only verified and reviewed.

export interface SeedOptions {
  readonly cards: number;
  readonly uses: number;
  /** Refusals to record; default uses / 50. */
  readonly rejections?: number;
  /** Suspicion events; default cards / 200. */
  readonly suspicions?: number;
  readonly branches?: number;
  /** The master key version the lists name (the keystore's first master key is 1). */
  readonly mkVersion?: number;
  /** The end of the seeded time span (ISO-8601); default now. Uses and refusals lie in the year before. */
  readonly now?: string;
  /** Lists per transaction for the uses (a bounded WAL between checkpoints). */
  readonly chunk?: number;
  readonly progress?: (step: string, seconds: number, rows: number) => void;
}

export interface SeedResult {
  readonly customers: number;
  readonly cards: number;
  readonly lists: number;
  readonly uses: number;
  readonly rejections: number;
  readonly suspicions: number;
  readonly seconds: number;
  /** The first and last seeded card id (cards.id), for a caller that wants to pick from them. */
  readonly cardIds: { readonly from: number; readonly to: number };
}

const DAY = 86_400;
/** Gap between two uses of one card, seconds (16 h): 41 uses fit in under a month. */
const USE_GAP = 57_600;

const maxId = (db: Database, table: string): number =>
  (db.prepare(`SELECT COALESCE(MAX(id), 0) AS m FROM ${table}`).get() as { m: number }).m;

/** The seeded card's N: 12 digits starting with 7 (the desk's own Ns never look like this). */
export const seededN = (cardOffset: number): string => `7${String(cardOffset).padStart(11, '0')}`;

export function seedUsage(db: Database, opts: SeedOptions): SeedResult {
  const cards = opts.cards;
  if (!Number.isInteger(cards) || cards < 2) throw new Error('--cards must be a whole number of at least 2');
  if (!Number.isInteger(opts.uses) || opts.uses < 0) throw new Error('--uses must be a whole number');
  const base = Math.floor(opts.uses / cards);
  const extra = opts.uses % cards;
  // Per card: base (+1 for the first `extra`), ± a spread that pairs of cards cancel, so the total is exact.
  const spread = Math.min(base, 40);
  const maxUsed = base + 1 + spread;
  const threshold = 20;
  const length = Math.min(1000, Math.max(100, maxUsed + threshold + 10));
  if (maxUsed > length) throw new Error(`--uses / --cards is above ${length - 1}: a list holds at most 1000 codes`);
  const rejections = opts.rejections ?? Math.floor(opts.uses / 50);
  const suspicions = opts.suspicions ?? Math.max(1, Math.floor(cards / 200));
  const branches = opts.branches ?? 24;
  const mkVersion = opts.mkVersion ?? 1;
  const nowEpoch = Math.floor(Date.parse(opts.now ?? new Date().toISOString()) / 1000);
  const chunk = opts.chunk ?? 100_000;
  const t0 = performance.now();
  let tStep = t0;
  const step = (name: string, rows: number) => {
    const t = performance.now();
    opts.progress?.(name, (t - tStep) / 1000, rows);
    tStep = t;
  };

  const customer0 = maxId(db, 'customers');
  const card0 = maxId(db, 'cards');
  const list0 = maxId(db, 'code_lists');
  const cardOffset0 = (db.prepare(`SELECT COUNT(*) AS n FROM cards WHERE n GLOB '7[0-9]*'`).get() as { n: number }).n;
  // Speed over safety while seeding only: a crash mid-seed means seeding again.
  db.pragma('synchronous = OFF');
  const series = (n: number) => `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ${n})`;
  // `c` (0-based seeded card number) → its numbers. SQL fragments over the column i.
  const iso = (epochExpr: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${epochExpr}, 'unixepoch')`;
  const activatedEpoch = `(${nowEpoch} - ${30 * DAY} - ((i * 37) % 330) * ${DAY} - (i % 3600))`;
  const usedCount = `(${base} + CASE WHEN i < ${extra} THEN 1 ELSE 0 END
     + CASE WHEN i = ${cards - 1} AND ${cards % 2} = 1 THEN 0
            WHEN i % 2 = 0 THEN ((i / 2) * 7919) % ${spread + 1}
            ELSE -(((i / 2) * 7919) % ${spread + 1}) END)`;

  // One card in 41 is near the end of its list (10–19 codes left): its refill is due.
  const listLength = `(CASE WHEN i % 41 = 7 THEN ${usedCount} + 10 + i % 10 ELSE ${length} END)`;

  db.transaction(() => {
    db.exec(`${series(cards)}
      INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country,
                             branch, created_at, created_by, updated_at)
      SELECT ${customer0} + 1 + i, printf('SEED-%08d', ${cardOffset0} + i), printf('Customer %08d', ${cardOffset0} + i),
             printf('customer %08d', ${cardOffset0} + i), printf('%d Seed Street', 1 + i % 500),
             printf('%05d', 10000 + i % 80000), printf('City %d', i % 97), 'DE',
             printf('Branch %02d', 1 + i % ${branches}),
             ${iso(`${activatedEpoch} - ${7 * DAY}`)}, 'seed', ${iso(`${activatedEpoch} - ${7 * DAY}`)}
        FROM s`);
    step('customers', cards);
    db.exec(`${series(cards)}
      INSERT INTO cards (id, card_id, customer_id, n, state, seal_mode, enrolled_at, enrolled_by, activated_at,
                         state_changed_at)
      SELECT ${card0} + 1 + i, printf('5EED%012X', ${cardOffset0} + i), ${customer0} + 1 + i,
             '7' || printf('%011d', ${cardOffset0} + i),
             CASE WHEN i % 333 = 332 THEN 'terminated' WHEN i % 200 = 199 THEN 'blocked' ELSE 'active' END,
             'card-key', ${iso(`${activatedEpoch} - ${3 * DAY}`)}, 'seed', ${iso(activatedEpoch)},
             ${iso(activatedEpoch)}
        FROM s`);
    step('cards', cards);
    // One list per card, active (a few withdrawn: disabled after activation), its use count and
    // refill flag agreeing with the uses below.
    db.exec(`${series(cards)}
      INSERT INTO code_lists (id, card_ref, seq, list_id, length, digits, threshold, expires_at, state,
                              queued_by_trigger, mk_version, sealed_for, body_hash, next_index, used_count,
                              refill_due, created_at, created_by, state_changed_at, activated_at)
      SELECT ${list0} + 1 + i, ${card0} + 1 + i, 1, printf('5eed%028x', ${cardOffset0} + i), ${listLength}, 6,
             ${threshold}, ${iso(`${nowEpoch} + ${365 * DAY}`)},
             CASE WHEN i % 500 = 499 THEN 'disabled' ELSE 'active' END, 'first', ${mkVersion},
             'card:7' || printf('%011d', ${cardOffset0} + i), printf('%064x', ${cardOffset0} + i),
             ${usedCount} + 1, ${usedCount},
             CASE WHEN ${listLength} - ${usedCount} <= ${threshold} THEN 1 ELSE 0 END,
             ${iso(`${activatedEpoch} - ${3 * DAY}`)}, 'seed', ${iso(activatedEpoch)}, ${iso(activatedEpoch)}
        FROM s`);
    step('code_lists', cards);
  })();

  // The uses: list by list, index 1 … used_count, 16 h apart from the list's activation.
  const insertUses = db.prepare(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ${maxUsed})
    INSERT INTO code_uses (list_ref, code_index, used_at)
    SELECT l.id, k.i, ${iso(`unixepoch(l.activated_at) + k.i * ${USE_GAP}`)}
      FROM code_lists l JOIN k ON k.i <= l.used_count
     WHERE l.id BETWEEN ? AND ?
     ORDER BY l.id, k.i`);
  let uses = 0;
  for (let from = list0 + 1; from <= list0 + cards; from += chunk) {
    uses += db.transaction(() => insertUses.run(from, Math.min(list0 + cards, from + chunk - 1)).changes)();
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  step('code_uses', uses);

  db.transaction(() => {
    db.exec(`${series(rejections)}
      INSERT INTO verify_rejections (card_ref, list_ref, reason, source, at)
      SELECT CASE WHEN r = 'unknown_n' THEN NULL ELSE ${card0} + 1 + c END,
             CASE WHEN r IN ('unknown_n', 'card_blocked', 'card_terminated', 'card_not_active', 'no_active_list')
                  THEN NULL ELSE ${list0} + 1 + c END,
             r, CASE WHEN i % 10 = 0 THEN 'desk' ELSE printf('client:%016x', i % 3) END,
             ${iso(`${nowEpoch} - (i * 7919) % ${365 * DAY}`)}
        FROM (SELECT i, (i * 104729) % ${cards} AS c,
                     CASE i % 20 WHEN 0 THEN 'wrong_code' WHEN 1 THEN 'wrong_code' WHEN 2 THEN 'wrong_code'
                       WHEN 3 THEN 'wrong_code' WHEN 4 THEN 'wrong_code' WHEN 5 THEN 'wrong_code'
                       WHEN 6 THEN 'wrong_code' WHEN 7 THEN 'wrong_code'
                       WHEN 8 THEN 'not_expected_position' WHEN 9 THEN 'not_expected_position'
                       WHEN 10 THEN 'not_expected_position' WHEN 11 THEN 'already_used' WHEN 12 THEN 'already_used'
                       WHEN 13 THEN 'table_expired' WHEN 14 THEN 'too_many_failures' WHEN 15 THEN 'card_blocked'
                       WHEN 16 THEN 'table_disabled' WHEN 17 THEN 'unknown_n' WHEN 18 THEN 'no_active_list'
                       ELSE 'card_not_active' END AS r
                FROM s)`);
    step('verify_rejections', rejections);
    db.exec(`${series(suspicions)}
      INSERT INTO suspicion_events (card_ref, list_ref, kind, code_index, drift, source, occurred_at,
                                    resolved_at, resolved_by, resolution)
      SELECT ${card0} + 1 + c, ${list0} + 1 + c, k,
             CASE WHEN k = 'code_replayed' THEN 1 + i % 20 ELSE NULL END,
             CASE WHEN k = 'counter_drift' THEN 1 + i % 5 ELSE NULL END,
             CASE WHEN k = 'counter_drift' THEN 'desk' ELSE printf('client:%016x', i % 3) END,
             ${iso(`${nowEpoch} - (i * 7919) % ${365 * DAY}`)},
             CASE WHEN i % 3 = 0 THEN ${iso(`${nowEpoch} - (i * 7919) % ${365 * DAY} + ${DAY}`)} END,
             CASE WHEN i % 3 = 0 THEN 'seed' END,
             CASE WHEN i % 3 = 0 THEN CASE i % 9 WHEN 0 THEN 'table_disabled' WHEN 3 THEN 'card_reported'
                                                ELSE 'dismissed' END END
        FROM (SELECT i, (i * 15485863) % ${cards} AS c,
                     CASE i % 4 WHEN 0 THEN 'code_replayed' WHEN 1 THEN 'disabled_table_used'
                       WHEN 2 THEN 'blocked_card_used' ELSE 'counter_drift' END AS k
                FROM s)`);
    step('suspicion_events', suspicions);
  })();
  // The daily use rollup (migration 0019), as a running desk's review would have kept it: folded
  // here, timed as its own step (a first fold of a big history is the review's one slow moment).
  step('code_use_days', foldUses(db));
  db.pragma('wal_checkpoint(TRUNCATE)');
  // Statistics for the query planner (sampled: seconds, not minutes, at 20 million rows).
  db.pragma('analysis_limit = 1000');
  db.exec('ANALYZE');
  db.pragma('synchronous = NORMAL');
  step('analyze', 0);
  return {
    customers: cards,
    cards,
    lists: cards,
    uses,
    rejections,
    suspicions,
    seconds: (performance.now() - t0) / 1000,
    cardIds: { from: card0 + 1, to: card0 + cards },
  };
}

function usage(): never {
  console.error(
    'usage: npm run seed:usage -- --cards <n> --uses <n> --dir <data directory>\n' +
      '       [--rejections <n>] [--suspicions <n>] [--branches <n>] [--mk-version <n>] [--now <ISO time>]',
  );
  process.exit(2);
}

function main(argv: string[]): void {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    const value = argv[i + 1];
    if (!name?.startsWith('--') || value === undefined) usage();
    args.set(name.slice(2), value);
  }
  const dir = args.get('dir') ?? usage();
  const num = (name: string): number | undefined => {
    const v = args.get(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) usage();
    return Number(v);
  };
  const known = new Set(['dir', 'cards', 'uses', 'rejections', 'suspicions', 'branches', 'mk-version', 'now']);
  for (const k of args.keys()) if (!known.has(k)) usage();
  const db = openDatabase(join(dir, 'workstation.db'));
  try {
    const now = args.get('now');
    const result = seedUsage(db, {
      cards: num('cards') ?? usage(),
      uses: num('uses') ?? usage(),
      ...(num('rejections') !== undefined ? { rejections: num('rejections') } : {}),
      ...(num('suspicions') !== undefined ? { suspicions: num('suspicions') } : {}),
      ...(num('branches') !== undefined ? { branches: num('branches') } : {}),
      ...(num('mk-version') !== undefined ? { mkVersion: num('mk-version') } : {}),
      ...(now !== undefined ? { now } : {}),
      progress: (name, seconds, rows) => console.log(`${name}: ${rows} rows in ${seconds.toFixed(1)} s`),
    });
    console.log(
      `seeded ${result.cards} cards, ${result.uses} uses, ${result.rejections} refusals, ` +
        `${result.suspicions} suspicion events in ${result.seconds.toFixed(1)} s`,
    );
  } finally {
    db.close();
  }
}

if (require.main === module) main(process.argv.slice(2));

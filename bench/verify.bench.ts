import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { seedUsage } from '../scripts/seed-usage';
import { openDatabase } from '../src/core/db/database';
import { foldUses } from '../src/core/usage/usage-rollup';
import { USAGE_QUERIES } from '../test/support/usage-queries';
import {
  call,
  cardWithCodes,
  clientKey,
  deskWithKeystore,
  startService,
  startServiceProcess,
  type Desk,
} from '../test/support/verify-service';
import { measureYubiserver, peerUnavailable } from './yubiserver-peer';
import { migratePg } from '../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../src/core/db/pg/pg-database';
import { pgIssuer } from '../test/support/verify-service-pg';
import { assertDurable, createUpdateFixture, pgbenchUpdates, startBenchCluster } from './support/pgbench';
import { wrkLoad, wrkMissing, type WrkRun, type WrkTarget } from './support/wrk';
import { cpuMs, machineCpuMs } from './support/cpu';

// Durable verifications per second over HTTP on loopback (issue 10 item 5 and "Done when"), on a
// database seeded to scale (scripts/seed-usage.ts: OTAC_BENCH_CARDS cards, default 1,000,000, and
// OTAC_BENCH_USES uses, default 20 per card; a smaller seed for a quick run). The real service runs
// in its own process (`npm run serve:verify`, group commit: every acceptance on disk before its
// answer); autocannon drives it at 1 and at 32 concurrent connections with keep-alive (the history
// of `verify.http_<c>` in docs/benchmarks.md is with it), and Debian's `wrk` at 32 (`verify.http_32_wrk`).
// In the same run, on the same filesystem:
// - the storage floor: durable single-row use-mark UPDATEs grouped 32 per commit, WAL and
//   synchronous=FULL, on the same SQLite settings: the disk's own limit for this write;
// - yubiserver (Debian's C HTTP validation server on SQLite) with 100k tokens at concurrency 1, the
//   peer the issue names (skipped with a line saying why when it is not installed);
// - core `verify` called in-process (no HTTP), to tell HTTP's share from core's;
// - the ceiling: the same HTTP path in its own process answering from memory
//   (bench/support/verify-without-database.ts), at 32 connections with autocannon
//   (`verify.without_database_http_32`) and with wrk (`…_wrk`): what no database path can pass on
//   this machine. autocannon (Node) reaches about a tenth of wrk's rate on that path: the load
//   generator, not the service, is then the limit, so every run meant to compare the service with
//   pgbench uses wrk (bench/support/wrk.ts);
// - the usage review's main queries (test/support/usage-queries.ts) at that size.
// Requests carry the index beside the code (one keystore check each).
// Then the service over PostgreSQL (issue 12 "Done when"), driven by wrk, with 1 and with 3
// instances sharing the database (OTAC_BENCH_PG_INSTANCES, default "1,3"), one wrk per instance with
// an equal share of the connections and cards; the rate is the sum over the instances (postgresRuns).
// The database is a throwaway cluster (Debian's server, durable commits checked) on which pgbench
// first runs one durable single-row UPDATE per transaction at 32 clients: the engine's own floor,
// the baseline of the `_vs_pgbench` ratios. OTAC_BENCH_DATABASE_URL runs on a given database instead
// (no pgbench then); OTAC_BENCH_PG=0 skips PostgreSQL. Each wrk load lasts OTAC_BENCH_PG_SECONDS
// (default 10, pgbench's too) unless its cards run out first (it is stopped then, and the rate is over
// the time it ran); more than 1 % of answers other than "accepted" fails the bench.

type Report = (name: string, value: number, unit: string) => void;
const PG_SECONDS = Number(process.env['OTAC_BENCH_PG_SECONDS'] ?? 10);
/** Codes used per card: below the refill threshold of the default 100-code list (no refill work mid-run). */
const CODES_PER_CARD = 80;
const CARDS = Number(process.env['OTAC_BENCH_CARDS'] ?? 1_000_000);
const USES = Number(process.env['OTAC_BENCH_USES'] ?? CARDS * 20);
/** Cards (each 80 codes) for the run at 32 connections: 8 per connection, at most 32 of them in flight. */
const CARDS_AT_32 = Number(process.env['OTAC_BENCH_CARDS_AT_32'] ?? 256);
/**
 * Cards (80 codes each) for the SQLite service under wrk at 32 connections: enough for 6,000/s over
 * OTAC_BENCH_PG_SECONDS (the run stops early if they run out; a card costs the desk about 15 ms).
 */
const SQLITE_WRK_CARDS = Number(process.env['OTAC_BENCH_SQLITE_WRK_CARDS'] ?? Math.ceil((6000 * PG_SECONDS) / 78));
/**
 * The rate (accepted/s) the PostgreSQL runs' cards are made for, over OTAC_BENCH_PG_SECONDS: by
 * default pgbench's in this run (10,000 on a given database). A card costs the issuer about 15 ms.
 */
const PG_RATE = process.env['OTAC_BENCH_PG_RATE'];
/** The ceiling checks no code: its cards under wrk have this many (the same one), enough for 30,000/s. */
const CEILING_CODES_PER_CARD = 1000;
/** The unreported wrk load on fresh PostgreSQL service processes before their first timed run. */
const WARM_UP_SECONDS = 2;
/** More answers than this share other than "accepted" in a wrk load fails the bench. */
const MAX_NOT_ACCEPTED = 0.01;

export interface Run {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

export interface Stream {
  readonly n: string;
  readonly codes: readonly string[];
  next: number;
}

/** Cards with lists made the desk's way (sealed, pushed, activated), for the load. */
export async function streams(desk: Desk, count: number): Promise<Stream[]> {
  const out: Stream[] = [];
  for (let i = 0; i < count; i++) {
    const { card, codes } = await cardWithCodes(desk.ws);
    out.push({ n: card.n, codes, next: 0 });
  }
  return out;
}

/** What `machineCpuMs` moved by over a load of `count` requests (or transactions). */
function reportMachine(
  report: Report,
  name: string,
  before: ReturnType<typeof machineCpuMs>,
  count: number,
  per: string,
): number | null {
  const after = machineCpuMs();
  if (!before || !after || count === 0 || after.all === before.all) return null;
  const perOne = (after.busy - before.busy) / count;
  report(`${name}.machine_cpu_per_${per}`, perOne, 'ms (all processes)');
  report(`${name}.machine_busy`, (after.busy - before.busy) / (after.all - before.all), 'of all cores');
  return perOne;
}

/** Codes per card left unused at the end of a load (see `load`); a load uses USED_PER_CARD of each. */
const TAIL = 2;
const USED_PER_CARD = CODES_PER_CARD - TAIL;

/**
 * autocannon over `connections` keep-alive connections. A card's codes go in order: a card is handed
 * to a request only when its previous answer has come back (it waits in `ready` meanwhile), so no two
 * codes of one card are ever in flight together and every answer must be "accepted". The cards
 * take turns (a queue), so they move together; the run stops TAIL codes before their end: a card
 * that finished leaves the queue, and once fewer cards than connections were left, a connection
 * whose answer came back found every other card in flight (autocannon gives each connection an
 * equal share of `amount`, whatever the others still have to do).
 */
export async function load(url: string, key: string, cards: Stream[], connections: number): Promise<Run> {
  const ready = [...cards];
  const total = cards.length * USED_PER_CARD;
  let accepted = 0;
  let other = '';
  // The time to the last answer, kept here: with `amount`, autocannon notices the end only at its next
  // 1-second sample tick and its `duration` runs to that tick (up to a second of idle counted).
  const t0 = performance.now();
  let last = t0;
  const result = await autocannon({
    url,
    connections,
    pipelining: 1,
    amount: total,
    timeout: 30,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/v1/verify',
        setupRequest: (req, context) => {
          const s = ready.shift();
          if (!s) throw new Error('no card ready: more connections than cards');
          context['stream'] = s;
          const index = s.next + 1;
          s.next++;
          return { ...req, body: JSON.stringify({ n: s.n, code: s.codes[index - 1], index }) };
        },
        onResponse: (status, body, context) => {
          const s = context['stream'] as Stream;
          last = performance.now();
          if (status === 200 && body.includes('"accepted"')) accepted++;
          else other ||= `${status} ${body.slice(0, 200)}`;
          if (s.next < CODES_PER_CARD) ready.push(s);
        },
      },
    ],
  });
  if (accepted !== total || result.errors || result.timeouts)
    throw new Error(`${total - accepted} of ${total} not accepted (${result.errors} errors): ${other}`);
  return { perSecond: accepted / ((last - t0) / 1000), p50: result.latency.p50, p99: result.latency.p99 };
}

async function inProcess(desk: Desk): Promise<Run> {
  const [stream] = await streams(desk, 1);
  if (!stream) throw new Error('no card');
  const svc = await startService(desk.dataDir, { durability: 'group' });
  try {
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < CODES_PER_CARD; i++) {
      const s = performance.now();
      const r = await svc.core.verification.verify(stream.n, stream.codes[i] ?? '', i + 1);
      await svc.core.durable();
      latencies.push(performance.now() - s);
      if (!r.accepted) throw new Error(`not accepted: ${r.reason}`);
    }
    return summarise(latencies, (performance.now() - t0) / 1000);
  } finally {
    await svc.close();
  }
}

function summarise(latencies: number[], seconds: number): Run {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { perSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99) };
}

/** Durable single-row updates, 32 per commit, WAL + synchronous=FULL, beside the desk's database. */
function storageFloor(dataDir: string): number {
  const db = openDatabase(join(dataDir, 'floor.db'), []);
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE marks (id INTEGER PRIMARY KEY, next_index INTEGER NOT NULL) STRICT');
  const insert = db.prepare('INSERT INTO marks (id, next_index) VALUES (?, 1)');
  for (let i = 1; i <= 1000; i++) insert.run(i);
  const update = db.prepare('UPDATE marks SET next_index = next_index + 1 WHERE id = ?');
  const batch = db.transaction((from: number) => {
    for (let j = 0; j < 32; j++) update.run(((from + j) % 1000) + 1);
  });
  let rows = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 2000) {
    batch(rows);
    rows += 32;
  }
  const rate = rows / ((performance.now() - t0) / 1000);
  db.close();
  return rate;
}

/** The median of 5 runs of each usage query, on the seeded database. */
function usageQueryTimes(desk: Desk, report: Report): void {
  const db = desk.ws.db;
  const now = Date.now();
  // A quarter of the seeded year: the review's usual range.
  const from = new Date(now - 120 * 86_400_000).toISOString();
  const to = new Date(now - 30 * 86_400_000).toISOString();
  // A seeded card whose uses (16 h apart, about a month of them) lie in that quarter: activated in
  // its first two months (found by a short walk: one in six lists qualifies).
  const activatedBy = new Date(now - 60 * 86_400_000).toISOString();
  const { n, customerId } = db
    .prepare(
      `SELECT c.n, c.customer_id AS customerId FROM code_lists l JOIN cards c ON c.id = l.card_ref
        WHERE c.n GLOB '7[0-9]*' AND l.used_count > 0 AND l.activated_at >= ? AND l.activated_at < ? LIMIT 1`,
    )
    .get(from, activatedBy) as { n: string; customerId: number };
  const seeded = { n, customerId, branch: 'Branch 01', from, to };
  // The use marks the HTTP runs just made: what the next review folds into the rollup before it reads.
  const t0 = performance.now();
  const folded = foldUses(db);
  report('verify.usage_rollup_fold_after_load', performance.now() - t0, `ms (${folded} use marks)`);
  const medians = new Map<string, number>();
  const results = new Map<string, string>();
  for (const q of USAGE_QUERIES) {
    const stmt = db.prepare(q.sql);
    const params = q.params(seeded);
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      rows = stmt.all(...params).length;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    report(`verify.usage_query.${q.name}`, times[2] ?? 0, `ms (${rows} rows)`);
    medians.set(q.name, times[2] ?? 0);
    results.set(q.name, JSON.stringify(stmt.all(...params)));
  }
  // The rollup must say what the use marks say: the bench stops if it does not.
  if (results.get('uses_per_day_of_branch') !== results.get('uses_per_day_of_branch_unrolled'))
    throw new Error('the daily rollup disagrees with the use marks for one branch');
  const rolled = medians.get('uses_per_day_of_branch');
  const unrolled = medians.get('uses_per_day_of_branch_unrolled');
  if (rolled !== undefined && unrolled)
    report('verify.usage_query.uses_per_day_of_branch_vs_unrolled', rolled / unrolled, 'x');
}

export async function run(report: Report): Promise<void> {
  // The PostgreSQL runs need wrk: say so before the long seed rather than after it.
  const noWrk = wrkMissing();
  if (noWrk && process.env['OTAC_BENCH_PG'] !== '0')
    throw new Error(`${noWrk}; or OTAC_BENCH_PG=0 to run without the PostgreSQL runs`);
  const desk = await deskWithKeystore();
  const peerDir = mkdtempSync(join(tmpdir(), 'otac-bench-peer-'));
  try {
    const steps = new Map<string, number>();
    const seeded = seedUsage(desk.ws.db, {
      cards: CARDS,
      uses: USES,
      progress: (step, seconds) => steps.set(step, seconds),
    });
    // The first fold of the whole seeded history into the daily rollup (migration 0019): what a
    // database migrated with a big history pays once, at its first usage review.
    report('verify.usage_rollup_first_fold', steps.get('code_use_days') ?? 0, 's');
    report('verify.seed_cards', seeded.cards, 'cards');
    report('verify.seed_uses', seeded.uses, 'uses');
    report('verify.seed_seconds', seeded.seconds, 's');

    const floor = storageFloor(desk.dataDir);
    report('verify.storage_floor_32_per_commit', floor, 'rows/s');

    const unavailable = peerUnavailable();
    let peer: number | null = null;
    if (unavailable) console.log(`# ${unavailable}`);
    else {
      const y = measureYubiserver(peerDir, 100_000, 2000);
      peer = y.perSecond;
      report('verify.yubiserver_1', y.perSecond, 'valid/s');
      report('verify.yubiserver_1.p50', y.p50, 'ms');
      report('verify.yubiserver_1.p99', y.p99, 'ms');
    }

    const core = await inProcess(desk);
    report('verify.in_process_1', core.perSecond, 'accepted/s');

    const key = await clientKey(desk.ws.db, 'verify');
    const one = await streams(desk, 4);
    const many = await streams(desk, CARDS_AT_32);
    if (noWrk) console.log(`# ${noWrk}; the runs with wrk are skipped`);
    const t0 = performance.now();
    const wrkCards = noWrk ? [] : await streams(desk, SQLITE_WRK_CARDS);
    if (wrkCards.length)
      console.log(
        `# ${wrkCards.length} cards made for the SQLite service under wrk in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    const svc = await startServiceProcess(desk.dataDir, {
      OTAC_VERIFY_DURABILITY: 'group',
      OTAC_VERIFY_RATE_PER_N: '1000/1000',
    });
    try {
      // One request first: the keystore and the statements are warm before anything is timed.
      await call(svc.url, '/health');
      for (const [clients, cards] of [
        [1, one],
        [32, many],
      ] as const) {
        const pid = svc.proc.pid ?? 0;
        const [service0, loader0] = [cpuMs(pid), cpuMs(process.pid)];
        const http = await load(svc.url, key, cards, clients);
        const [service1, loader1] = [cpuMs(pid), cpuMs(process.pid)];
        report(`verify.http_${clients}`, http.perSecond, 'accepted/s');
        // CPU per request: the service's process, and this one (autocannon, the load generator): on a
        // machine of few cores they share, their sum bounds the rate.
        const requests = cards.length * USED_PER_CARD;
        if (service0 !== null && service1 !== null && loader0 !== null && loader1 !== null) {
          report(`verify.http_${clients}.service_cpu_per_request`, (service1 - service0) / requests, 'ms');
          report(`verify.http_${clients}.load_generator_cpu_per_request`, (loader1 - loader0) / requests, 'ms');
        }
        report(`verify.http_${clients}.p50`, http.p50, 'ms');
        report(`verify.http_${clients}.p99`, http.p99, 'ms');
        report(`verify.http_${clients}_vs_storage_floor`, http.perSecond / floor, 'x');
        if (peer) report(`verify.http_${clients}_vs_yubiserver_1`, http.perSecond / peer, 'x');
      }
      // The same service under wrk: the figure to set beside the PostgreSQL runs (same load generator).
      if (!noWrk)
        await wrkRun(report, 'verify.http_32_wrk', key, [{ url: svc.url, pid: svc.proc.pid ?? 0 }], 32, wrkCards);
    } finally {
      await svc.stop();
    }
    const ceiling = await measureCeiling(report, key, noWrk === null);
    if (process.env['OTAC_BENCH_PG'] !== '0') await postgresBeside(report, desk, ceiling);
    usageQueryTimes(desk, report);
  } finally {
    rmSync(peerDir, { recursive: true, force: true });
    await desk.dispose();
  }
}

/**
 * The ceiling: the service's HTTP path in its own process, the decision answered from memory, at 32
 * connections with autocannon and (when `withWrk`) with wrk. Returns wrk's rate, else autocannon's.
 */
async function measureCeiling(report: Report, key: string, withWrk: boolean): Promise<number> {
  const bare = await startWithoutDatabase(key);
  try {
    const cards: Stream[] = [];
    for (let j = 0; j < CARDS_AT_32; j++)
      cards.push({
        n: String(9_000_000_000 + j),
        codes: Array.from({ length: CODES_PER_CARD }, () => '00000000'),
        next: 0,
      });
    const cpu0 = cpuMs(bare.pid);
    const r = await load(bare.url, key, cards, 32);
    const cpu1 = cpuMs(bare.pid);
    report('verify.without_database_http_32', r.perSecond, 'accepted/s');
    if (cpu0 !== null && cpu1 !== null)
      report(
        'verify.without_database_http_32.service_cpu_per_request',
        (cpu1 - cpu0) / (cards.length * USED_PER_CARD),
        'ms',
      );
    if (!withWrk) return r.perSecond;
    const fakes: Stream[] = Array.from(
      { length: Math.ceil((30_000 * PG_SECONDS) / CEILING_CODES_PER_CARD) + 32 },
      (_, j) => ({
        n: String(9_100_000_000 + j),
        codes: Array.from({ length: CEILING_CODES_PER_CARD }, () => '00000000'),
        next: 0,
      }),
    );
    const w = await wrkRun(
      report,
      'verify.without_database_http_32_wrk',
      key,
      [bare],
      32,
      fakes,
      CEILING_CODES_PER_CARD,
    );
    report('verify.without_database_http_32_wrk_vs_autocannon', w.rate / r.perSecond, 'x');
    return w.rate;
  } finally {
    await bare.stop();
  }
}

/** `connections` split over `services` (32 over 3: 11, 11 and 10), the cards dealt in proportion. */
function deal(
  services: readonly { url: string }[],
  connections: number,
  cards: readonly Stream[],
  codesPerCard: number,
): WrkTarget[] {
  const conns = services.map(
    (_, i) => Math.floor(connections / services.length) + (i < connections % services.length ? 1 : 0),
  );
  const slots = conns.flatMap((c, i) => Array.from({ length: c }, () => i));
  const shares = services.map(() => [] as Stream[]);
  cards.filter((c) => c.next < codesPerCard).forEach((c, j) => shares[slots[j % slots.length] ?? 0]?.push(c));
  return services.map((s, i) => ({ url: s.url, cards: shares[i] ?? [], connections: conns[i] ?? 0 }));
}

/**
 * One wrk load (bench/support/wrk.ts) on `services` at once, `connections` split over them (32 over
 * 3: 11, 11 and 10) and the cards dealt in proportion; reports the summed rate, the not-accepted
 * count, the worst instance's p50 and p99, and the CPU per request of the services and of wrk.
 * Throws (after reporting) when more than MAX_NOT_ACCEPTED of the answers were not "accepted".
 */
async function wrkRun(
  report: Report,
  name: string,
  key: string,
  services: readonly { url: string; pid: number }[],
  connections: number,
  cards: readonly Stream[],
  codesPerCard = CODES_PER_CARD,
): Promise<{ rate: number; machineMs: number | null }> {
  const targets = deal(services, connections, cards, codesPerCard);
  const cpu0 = services.map((s) => cpuMs(s.pid));
  const machine0 = machineCpuMs();
  const runs = await wrkLoad(key, targets, PG_SECONDS, codesPerCard);
  const cpu1 = services.map((s) => cpuMs(s.pid));
  const sum = (f: (r: WrkRun) => number) => runs.reduce((t, r) => t + f(r), 0);
  const rate = sum((r) => r.perSecond);
  const requests = sum((r) => r.accepted + r.notAccepted + r.spare);
  const notAccepted = sum((r) => r.notAccepted);
  const answered = sum((r) => r.accepted) + notAccepted;
  report(name, rate, 'accepted/s (wrk)');
  report(`${name}.not_accepted`, notAccepted, `of ${answered} answers`);
  const seconds = Math.max(...runs.map((r) => r.seconds));
  if (runs.some((r) => r.exhausted))
    console.log(`# ${name}: the cards ran out after ${seconds.toFixed(1)} s (the rate is over that time)`);
  if (cpu0.every((c) => c !== null) && cpu1.every((c) => c !== null)) {
    const used = cpu1.reduce((t, c, i) => t + (c ?? 0) - (cpu0[i] ?? 0), 0);
    report(`${name}.service_cpu_per_request`, used / requests, 'ms');
  }
  report(`${name}.load_generator_cpu_per_request`, sum((r) => r.loadCpuMs) / requests, 'ms');
  const machineMs = reportMachine(report, name, machine0, requests, 'request');
  const worst = services.length > 1 ? 'ms (worst instance)' : 'ms';
  report(`${name}.p50`, Math.max(...runs.map((r) => r.p50)), worst);
  report(`${name}.p99`, Math.max(...runs.map((r) => r.p99)), worst);
  if (notAccepted > MAX_NOT_ACCEPTED * answered)
    throw new Error(
      `${name}: ${notAccepted} of ${answered} not accepted: ${runs.flatMap((r) => r.samples).join(' | ')}`,
    );
  return { rate, machineMs };
}

/** The PostgreSQL runs, on a throwaway cluster beside pgbench's floor unless a URL is given. */
async function postgresBeside(report: Report, desk: Desk, ceiling: number): Promise<void> {
  const given = process.env['OTAC_BENCH_DATABASE_URL'];
  if (given) return postgresRuns(report, desk, given, null, ceiling);
  const cluster = await startBenchCluster();
  const dir = mkdtempSync(join(tmpdir(), 'otac-verify-pgbench-'));
  try {
    const fixture = await cluster.createDatabase('pgbench');
    await assertDurable(cluster, fixture);
    await createUpdateFixture(cluster, fixture);
    const machine0 = machineCpuMs();
    const floor = await pgbenchUpdates(cluster.url(fixture), 32, PG_SECONDS, dir);
    report('verify.pgbench_update_c32', floor.tps, 'transactions/s');
    reportMachine(report, 'verify.pgbench_update_c32', machine0, floor.transactions, 'transaction');
    report('verify.without_database_http_32_wrk_vs_pgbench', ceiling / floor.tps, '× pgbench c32');
    const issuerDb = await cluster.createDatabase('issuer');
    await assertDurable(cluster, issuerDb);
    await postgresRuns(report, desk, cluster.url(issuerDb), floor.tps, ceiling);
  } finally {
    cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The verification service on PostgreSQL (service-core.pg.ts) under wrk: `instances` processes on
 * one database, 1 and 32 connections in all, split evenly, one wrk per instance, after an unreported
 * warm-up (WARM_UP_SECONDS at 32: the 3 instances have no 1-connection run before). The cards (made on
 * that database through the service's ListService, test/support/verify-service-pg.ts) are one pool
 * that every run goes on using: before each run it is topped up to OTAC_BENCH_PG_RATE ×
 * OTAC_BENCH_PG_SECONDS unused codes. Figures `verify.pg<instances>_http_<c>`, with the ratios to
 * pgbench and to the ceiling (the same HTTP path without a database, under wrk, this run).
 */
export async function postgresRuns(
  report: Report,
  desk: Desk,
  databaseUrl: string,
  pgbenchTps: number | null,
  ceiling: number,
): Promise<void> {
  const missing = wrkMissing();
  if (missing) throw new Error(`${missing}: the PostgreSQL runs need it`);
  const db = new PgDatabase({ url: databaseUrl });
  try {
    await migratePg(db); // the bench stands in for the desk that makes the schema
  } finally {
    await db.close();
  }
  const issuer = await pgIssuer(desk, databaseUrl);
  try {
    const key = await issuer.clientKey('verify');
    const pool: Stream[] = [];
    const wanted = Number(PG_RATE ?? pgbenchTps ?? 10_000) * PG_SECONDS;
    const topUp = async () => {
      const t0 = performance.now();
      let left = pool.reduce((t, c) => t + Math.max(0, CODES_PER_CARD - c.next), 0);
      let made = 0;
      while (left < wanted) {
        const { card, codes } = await issuer.cardWithCodes();
        pool.push({ n: card.n, codes, next: 0 });
        left += CODES_PER_CARD;
        made++;
      }
      if (made)
        console.log(
          `# ${made} cards made for the PostgreSQL runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
    };
    const counts = (process.env['OTAC_BENCH_PG_INSTANCES'] ?? '1,3').split(',').map(Number);
    for (const count of counts) {
      const procs = await Promise.all(
        Array.from({ length: count }, () =>
          startServiceProcess(issuer.instanceDir(), {
            OTAC_DATABASE_URL: databaseUrl,
            OTAC_VERIFY_RATE_PER_N: '1000/1000',
            OTAC_DATABASE_POOL: String(Math.max(4, Math.ceil(32 / count))),
          }),
        ),
      );
      try {
        await Promise.all(procs.map((p) => call(p.url, '/health')));
        const services = procs.map((p) => ({ url: p.url, pid: p.proc.pid ?? 0 }));
        // Warm-up, not reported: fresh processes compile their hot paths in the first seconds.
        await topUp();
        await wrkLoad(key, deal(services, 32, pool, CODES_PER_CARD), WARM_UP_SECONDS, CODES_PER_CARD);
        for (const clients of [1, 32]) {
          if (clients < count) continue; // one connection cannot be split over several instances
          await topUp();
          const name = `verify.pg${count}_http_${clients}`;
          const { rate: total, machineMs } = await wrkRun(report, name, key, services, clients, pool);
          if (pgbenchTps !== null && clients === 32) report(`${name}_vs_pgbench`, total / pgbenchTps, '× pgbench c32');
          // The most this CPU per request allows: every core busy with nothing but this load.
          if (pgbenchTps !== null && clients === 32 && machineMs)
            report(`${name}_cpu_bound_vs_pgbench`, (cpus().length * 1000) / machineMs / pgbenchTps, '× pgbench c32');
          if (clients === 32) report(`${name}_vs_without_database`, total / ceiling, '× the ceiling (wrk)');
        }
      } finally {
        await Promise.all(procs.map((p) => p.stop()));
      }
    }
  } finally {
    await issuer.close();
  }
}

/** bench/support/verify-without-database.ts in its own process: the HTTP path's ceiling. */
function startWithoutDatabase(key: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'support/verify-without-database.ts')], {
    cwd: join(__dirname, '..'),
    env: { ...process.env, OTAC_BENCH_KEY: key },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m?.[1]) resolve({ url: m[1], pid: proc.pid ?? 0, stop });
    });
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => reject(new Error(`the ceiling server exited (${code}): ${out}`)));
  });
}

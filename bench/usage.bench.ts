import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/core/db/database';
import { SqliteUsageRepository } from '../src/core/usage/usage.repository';
import { csvLine } from '../src/core/usage/usage-csv';
import { seedUsage } from '../test/support/usage-seed';

// The usage review's queries (issue 10 item 4, docs/usage-review.md) on a seeded history, each
// beside the baseline of reading every use mark's row once, measured in the
// same run: a ratio well below 1 says the query reaches its rows through indexes, not by reading
// the whole history. OTAC_BENCH_USAGE_DB names a database already seeded at full size (the 1M-card
// generator); otherwise OTAC_BENCH_USAGE_CARDS cards (default 20,000, about 1.2M uses) are seeded here.

type Report = (name: string, value: number, unit: string) => void;

function medianMs(fn: () => unknown, runs = 5): number {
  fn(); // warm-up: page cache and statement cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

async function medianAsync(fn: () => Promise<unknown>, runs = 5): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

export async function run(report: Report): Promise<void> {
  const given = process.env['OTAC_BENCH_USAGE_DB'];
  const dir = given ? null : mkdtempSync(join(tmpdir(), 'otac-usage-bench-'));
  const db = openDatabase(given ?? join(dir!, 'usage.db'));
  try {
    if (!given) seedUsage(db, { cards: Number(process.env['OTAC_BENCH_USAGE_CARDS'] ?? 20_000), days: 60 });
    const repo = new SqliteUsageRepository(db);
    const cards = (db.prepare('SELECT count(*) AS n FROM cards').get() as { n: number }).n;
    const uses = (db.prepare('SELECT count(*) AS n FROM code_uses').get() as { n: number }).n;
    report('usage.cards', cards, 'cards');
    report('usage.uses', uses, 'uses');
    // Every use mark's row read once (NOT INDEXED: count(*) alone would count a small index instead).
    const baseline = medianMs(() => db.prepare('SELECT sum(length(used_at)) FROM code_uses NOT INDEXED').get());
    report('usage.baseline_full_read_of_uses', baseline, 'ms');
    const last =
      (db.prepare('SELECT max(used_at) AS t FROM code_uses').get() as { t: string | null }).t ?? '2026-12-31';
    const to = last.slice(0, 10);
    const from = new Date(Date.parse(`${to}T00:00:00.000Z`) - 6 * 86_400_000).toISOString().slice(0, 10);
    const week = { from, to };
    const branch = (db.prepare('SELECT branch FROM customers LIMIT 1').get() as { branch: string } | undefined)?.branch;
    const q = (db.prepare('SELECT n FROM cards LIMIT 1').get() as { n: string } | undefined)?.n;

    const cases: [string, () => Promise<unknown>][] = [
      ['summary_week', () => repo.summary(week)],
      ['summary_week_branch', () => repo.summary({ ...week, ...(branch ? { branch } : {}) })],
      ['summary_week_reason', () => repo.summary({ ...week, reason: 'wrong_code' })],
      [
        'rows_card_first_page',
        () => repo.rows({ filter: week, by: 'card', sort: 'key', desc: false, page: 1, pageSize: 100 }),
      ],
      [
        'rows_card_page_100',
        () => repo.rows({ filter: week, by: 'card', sort: 'key', desc: false, page: 100, pageSize: 100 }),
      ],
      [
        'rows_search_n',
        () =>
          repo.rows({
            filter: { ...week, ...(q ? { q } : {}) },
            by: 'card',
            sort: 'key',
            desc: false,
            page: 1,
            pageSize: 100,
          }),
      ],
      ['suspicions_open', () => repo.suspicions(week, true, 1, 25)],
    ];
    for (const [name, fn] of cases) {
      const ms = await medianAsync(fn, 3);
      report(`usage.${name}`, ms, 'ms');
      report(`usage.${name}.vs_full_read`, ms / baseline, 'x');
    }
    // The export's rate: rows per second through the keyset batches and the CSV formatting.
    const start = process.hrtime.bigint();
    let rows = 0;
    for await (const batch of repo.batches(week, 'card')) {
      for (const r of batch) csvLine(r);
      rows += batch.length;
      if (rows >= 20_000) break;
    }
    report('usage.csv_export_rows_per_s', rows / (Number(process.hrtime.bigint() - start) / 1e9), 'rows/s');
  } finally {
    db.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

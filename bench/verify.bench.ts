import { join } from 'node:path';
import { openDatabase } from '../src/core/db/database';
import type { Durability } from '../src/verify-service/service-core';
import {
  call,
  cardWithCodes,
  clientKey,
  deskWithKeystore,
  startService,
  startServiceProcess,
  type Desk,
} from '../test/support/verify-service';

// Accepted verifications per second over HTTP on loopback (issue 10 item 1): the real service, in its
// own process, beside a desk, each acceptance on disk before its answer, at 1 and 32 concurrent clients (one stream of
// in-order codes per card), in both durability modes (group commit; synchronous=FULL). In the same
// run, the baselines: core `verify` called in-process (same database, same durability wait, no
// HTTP), and the storage floor: durable single-row updates grouped 32 per commit on the same file
// system and SQLite settings (WAL, synchronous=FULL), so the service's cost over its disk is a ratio.
// Requests carry the index the card shows beside the code (one keystore check each; without it,
// verify checks up to 20 positions).

type Report = (name: string, value: number, unit: string) => void;
const CODES_PER_CARD = 80; // below the refill threshold of the default 100-code list

interface Run {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

function summarise(latencies: number[], seconds: number): Run {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { perSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99) };
}

async function overHttp(desk: Desk, durability: Durability, clients: number): Promise<Run> {
  const cards = await Promise.all(Array.from({ length: clients }, () => cardWithCodes(desk.ws)));
  const key = await clientKey(desk.ws.db, 'verify');
  // The service in its own process, as `npm run serve:verify` runs it: the clients here do not take
  // its CPU, and the answers cross a real loopback socket.
  const svc = await startServiceProcess(desk.dataDir, {
    OTAC_VERIFY_DURABILITY: durability,
    OTAC_VERIFY_RATE_PER_N: '1000/1000',
  });
  try {
    const latencies: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      cards.map(async ({ card, codes }) => {
        for (let i = 0; i < CODES_PER_CARD; i++) {
          const s = performance.now();
          const res = await call(svc.url, '/v1/verify', { key, body: { n: card.n, code: codes[i], index: i + 1 } });
          latencies.push(performance.now() - s);
          if ((res.body as { result?: string }).result !== 'accepted')
            throw new Error(`not accepted: ${JSON.stringify(res.body)}`);
        }
      }),
    );
    return summarise(latencies, (performance.now() - t0) / 1000);
  } finally {
    await svc.stop();
  }
}

async function inProcess(desk: Desk, durability: Durability): Promise<Run> {
  const { card, codes } = await cardWithCodes(desk.ws);
  const svc = await startService(desk.dataDir, { durability });
  try {
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < CODES_PER_CARD; i++) {
      const s = performance.now();
      const r = await svc.core.verification.verify(card.n, codes[i] ?? '', i + 1);
      await svc.core.durable();
      latencies.push(performance.now() - s);
      if (!r.accepted) throw new Error(`not accepted: ${r.reason}`);
    }
    return summarise(latencies, (performance.now() - t0) / 1000);
  } finally {
    await svc.close();
  }
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
  while (performance.now() - t0 < 1000) {
    batch(rows);
    rows += 32;
  }
  const rate = rows / ((performance.now() - t0) / 1000);
  db.close();
  return rate;
}

export async function run(report: Report): Promise<void> {
  const desk = await deskWithKeystore();
  try {
    const floor = storageFloor(desk.dataDir);
    report('verify.storage_floor_32_per_commit', floor, 'rows/s');
    for (const durability of ['group', 'full'] as const) {
      const core = await inProcess(desk, durability);
      report(`verify.${durability}.in_process_1`, core.perSecond, 'accepted/s');
      for (const clients of [1, 32]) {
        const http = await overHttp(desk, durability, clients);
        report(`verify.${durability}.http_${clients}`, http.perSecond, 'accepted/s');
        report(`verify.${durability}.http_${clients}.p50`, http.p50, 'ms');
        report(`verify.${durability}.http_${clients}.p99`, http.p99, 'ms');
        report(`verify.${durability}.http_${clients}_vs_in_process`, http.perSecond / core.perSecond, 'x');
        report(`verify.${durability}.http_${clients}_vs_storage_floor`, http.perSecond / floor, 'x');
      }
    }
  } finally {
    await desk.dispose();
  }
}

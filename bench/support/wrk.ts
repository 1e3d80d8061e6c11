import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

// Debian's `wrk` (a C HTTP load generator) driving POST /v1/verify with real cards' codes (issue 12).
// autocannon, in Node, tops out near 2k requests/s on this machine where wrk sends ten times that to
// the same HTTP path, so a service measured with autocannon at 32 connections measures autocannon.
//
// The contract: each target (a service URL) gets its own wrk process, all started together; each wrk
// thread loads its own share of the cards (a Lua file written here) and goes round them, one code of
// each card per turn, so a card's next code is sent only after every other card of that thread had a
// turn: with more cards than connections a card is almost never in flight twice. A card leaves the
// turn when its codes up to `codesPerCard` are sent; when a thread has fewer cards left than
// connections it prints "otac-wrk exhausted", sends GET /health instead (cheap, counted as spare), and
// every wrk is stopped at once (SIGINT: wrk then prints its summary for the time it ran). wrk cannot
// stop early by itself. `done()` (wrk's main thread) sums the per-thread counters through
// `thread:get` and prints them with each card's codes sent, so the caller's cards move on (`next`)
// and can be used again by a later load.

/** A card and its codes; `next` codes of it are used (or skipped) already: the next index is next + 1. */
export interface CardCodes {
  readonly n: string;
  readonly codes: readonly string[];
  next: number;
}

export interface WrkTarget {
  readonly url: string;
  readonly cards: readonly CardCodes[];
  readonly connections: number;
}

export interface WrkRun {
  /** Answers "accepted". */
  readonly accepted: number;
  /** Verify requests answered otherwise, or lost to a socket error or a timeout. */
  readonly notAccepted: number;
  /** GET /health sent after the cards ran out (not counted in either). */
  readonly spare: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** wrk's own CPU time (all threads, from its clock() at the end less at the start of the load), ms. */
  readonly loadCpuMs: number;
  /** Some thread ran out of cards before the duration: the run was stopped early. */
  readonly exhausted: boolean;
  /** The first few answers that were not "accepted". */
  readonly samples: readonly string[];
}

/** Why wrk cannot run here, in words saying how to install it; null when it can. */
export function wrkMissing(): string | null {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (probe.error)
    return "wrk (Debian's C HTTP load generator) is not installed: `sudo apt-get install wrk` (scripts/setup.sh installs it as root)";
  return null;
}

/**
 * One wrk per target for `seconds` (all at once), `codesPerCard` codes of each card at most. The cards'
 * `next` moves past every code sent, and one further (a request in flight when wrk stopped may or may
 * not have been used; the service accepts a code up to its look-ahead past the next expected one).
 */
export async function wrkLoad(
  key: string,
  targets: readonly WrkTarget[],
  seconds: number,
  codesPerCard: number,
): Promise<WrkRun[]> {
  const missing = wrkMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'otac-wrk-'));
  try {
    const plans = targets.map((target, i) => plan(join(dir, String(i)), key, target, codesPerCard, targets.length));
    const procs: ChildProcess[] = [];
    let stopped = false;
    const stopAll = () => {
      if (stopped) return;
      stopped = true;
      for (const p of procs) p.kill('SIGINT');
    };
    const outputs = await Promise.all(
      plans.map(
        (p) =>
          new Promise<string>((resolve, reject) => {
            const proc = spawn(
              'wrk',
              [
                `-t${p.threads.length}`,
                `-c${p.connections}`,
                `-d${seconds}s`,
                '--timeout',
                '10s',
                '--latency',
                '-s',
                p.script,
                p.url,
              ],
              { stdio: ['ignore', 'pipe', 'pipe'] },
            );
            procs.push(proc);
            let out = '';
            let err = '';
            proc.stdout?.on('data', (d: Buffer) => {
              out += d.toString();
              if (out.includes('otac-wrk exhausted')) stopAll();
            });
            proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
            proc.on('error', reject);
            proc.on('exit', (code) =>
              code === 0 ? resolve(out) : reject(new Error(`wrk exited (${code}): ${err || out}`)),
            );
          }),
      ),
    );
    return plans.map((p, i) => parse(outputs[i] ?? '', p.threads));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Plan {
  readonly url: string;
  readonly script: string;
  readonly connections: number;
  /** Per wrk thread (by its id, from 1): its cards and the codes of each it starts from. */
  readonly threads: { cards: CardCodes[]; limit: number }[];
}

/** Threads for one wrk: the cores it may have, and a divisor of its connections (wrk gives each thread connections / threads). */
function threadCount(connections: number, processes: number): number {
  let t = Math.max(1, Math.min(connections, Math.floor(cpus().length / processes)));
  while (connections % t !== 0) t--;
  return t;
}

const SAFE = /^[A-Za-z0-9_-]+$/;

function plan(dir: string, key: string, target: WrkTarget, codesPerCard: number, processes: number): Plan {
  mkdirSync(dir, { recursive: true });
  const count = threadCount(target.connections, processes);
  const threads = Array.from({ length: count }, () => ({ cards: [] as CardCodes[], limit: codesPerCard }));
  target.cards
    .filter((c) => c.next < Math.min(codesPerCard, c.codes.length))
    .forEach((c, i) => threads[i % count]?.cards.push(c));
  threads.forEach((t, i) => {
    const rows = t.cards.map((c) => {
      const codes = c.codes.slice(c.next, Math.min(codesPerCard, c.codes.length));
      if (!SAFE.test(c.n) || !codes.every((code) => SAFE.test(code)))
        throw new Error(`card ${c.n}: unexpected characters`);
      // One string of codes per card (split in init): a Lua chunk holds a limited number of constants.
      return `{n="${c.n}",first=${c.next + 1},codes="${codes.join(',')}"}`;
    });
    writeFileSync(join(dir, `cards-${i + 1}.lua`), `return {\n${rows.join(',\n')}\n}\n`);
  });
  if (!SAFE.test(key)) throw new Error('the API key has unexpected characters');
  const script = join(dir, 'verify.lua');
  writeFileSync(script, luaScript(dir, key, target.connections / count));
  return { url: target.url, script, connections: target.connections, threads };
}

function luaScript(dir: string, key: string, connectionsPerThread: number): string {
  return `
-- Written by bench/support/wrk.ts: every wrk thread goes round its own cards (see there).
local threads, counter = {}, 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local headers = { ["authorization"] = "Bearer ${key}", ["content-type"] = "application/json" }
local cards, ring, live, pos, health

function init(args)
  cards = dofile("${dir}/cards-" .. id .. ".lua")
  ring, sent = {}, {}
  for i = 1, #cards do
    local codes = {}
    for code in string.gmatch(cards[i].codes, "[^,]+") do codes[#codes + 1] = code end
    cards[i].codes = codes
    ring[i] = i; sent[i] = 0
  end
  live, pos = #cards, 0
  accepted, other, spare, samples, exhausted = 0, 0, 0, {}, false
  health = wrk.format("GET", "/health")
  clock0 = os.clock()
end

function request()
  if live >= ${connectionsPerThread} then
    pos = pos % live + 1
    local i = ring[pos]
    local c, s = cards[i], sent[i]
    sent[i] = s + 1
    if s + 1 >= #c.codes then ring[pos] = ring[live]; live = live - 1; pos = pos - 1 end
    local body = '{"n":"' .. c.n .. '","code":"' .. c.codes[s + 1] .. '","index":' .. (c.first + s) .. '}'
    return wrk.format("POST", "/v1/verify", headers, body)
  end
  if not exhausted then exhausted = true; io.write("otac-wrk exhausted\\n"); io.flush() end
  return health
end

function response(status, headers, body)
  if string.find(body, '"result":"accepted"', 1, true) then accepted = accepted + 1
  elseif string.find(body, '"keystore":', 1, true) then spare = spare + 1
  else
    other = other + 1
    if #samples < 3 then table.insert(samples, status .. " " .. string.sub(body, 1, 200)) end
  end
end

function done(summary, latency, requests)
  local a, o, s, c0 = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); o = o + t:get("other"); s = s + t:get("spare")
    c0 = math.max(c0, t:get("clock0"))
    io.write("otac-wrk sent " .. t:get("id") .. " " .. table.concat(t:get("sent"), ",") .. "\\n")
    for _, line in ipairs(t:get("samples")) do io.write("otac-wrk sample " .. line .. "\\n") end
  end
  local e = summary.errors
  io.write(string.format("otac-wrk result accepted=%d other=%d spare=%d errors=%d duration_us=%d p50_us=%d p99_us=%d cpu_ms=%d\\n",
    a, o, s, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), math.floor((os.clock() - c0) * 1000)))
end
`;
}

function parse(out: string, threads: Plan['threads']): WrkRun {
  const m =
    /otac-wrk result accepted=(\d+) other=(\d+) spare=(\d+) errors=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) cpu_ms=(\d+)/.exec(
      out,
    );
  if (!m) throw new Error(`wrk printed no result:\n${out}`);
  const [accepted = 0, other = 0, spare = 0, errors = 0, durationUs = 0, p50 = 0, p99 = 0, cpu = 0] = m
    .slice(1)
    .map(Number);
  for (const line of out.matchAll(/^otac-wrk sent (\d+) ([\d,]*)$/gm)) {
    const t = threads[Number(line[1]) - 1];
    const sent = (line[2] ?? '').split(',').filter(Boolean).map(Number);
    t?.cards.forEach((c, i) => {
      const s = sent[i] ?? 0;
      if (s > 0) c.next = Math.min(t.limit, c.codes.length, c.next + s + 1);
    });
  }
  const seconds = durationUs / 1e6;
  return {
    accepted,
    notAccepted: other + errors,
    spare,
    seconds,
    perSecond: accepted / seconds,
    p50: p50 / 1000,
    p99: p99 / 1000,
    loadCpuMs: cpu,
    exhausted: out.includes('otac-wrk exhausted'),
    samples: [...out.matchAll(/^otac-wrk sample (.*)$/gm)].map((s) => s[1] ?? ''),
  };
}

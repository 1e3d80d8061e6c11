import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { hotp } from '../src/core/crypto/hotp';

// The peer the verification service is measured against (issue 10 "Done when"; /work/shared/TESTBED.md
// "A peer to measure against: yubiserver"): Debian's yubiserver, a C OATH/HOTP validation server on
// SQLite, with 100k tokens, validating one valid HOTP code per request at concurrency 1 (it serves one
// connection at a time). It listens on every interface and daemonises, so it runs inside a private
// network namespace with only loopback, and the load client runs in that namespace too: this file
// re-runs itself there (`--inside`). Not a dependency of the tests or of setup: when yubiserver, root
// or unshare is missing, the bench prints why and goes on without it.

const INIT = '/etc/yubiserver/yubiserver.sqlite.init';
const MODHEX = 'cbdefghijklnrtuv';

export interface PeerRun {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
}

/** Token i's public name (12 modhex characters) and its 20-byte secret. */
function token(i: number): { publicName: string; secret: Buffer } {
  let name = '';
  for (let v = i, k = 0; k < 12; k++, v = Math.floor(v / 16)) name = (MODHEX[v % 16] ?? 'c') + name;
  // yubiserver handles the decoded secret as a C string: a zero byte would cut it short, so none has one.
  const secret = createHash('sha1').update(`otac-bench-peer-${i}`).digest();
  for (let k = 0; k < secret.length; k++) secret[k] = (secret[k] ?? 0) | 1;
  return { publicName: name, secret };
}

/** Why the peer cannot run here, or null when it can. */
export function peerUnavailable(): string | null {
  if (!existsSync('/usr/bin/yubiserver') || !existsSync(INIT))
    return 'yubiserver is not installed (apt-get install yubiserver): the peer comparison is skipped';
  if (process.getuid?.() !== 0) return 'yubiserver needs root for its network namespace (unshare -n): skipped';
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return 'unshare -n is not allowed here: skipped';
  return null;
}

/** Seeds 100k tokens in `dir` (same filesystem as the service's data) and measures at concurrency 1. */
export function measureYubiserver(dir: string, tokens: number, requests: number): PeerRun {
  const file = join(dir, 'yubiserver.sqlite');
  copyFileSync(INIT, file);
  const db = new BetterSqlite3(file);
  const insert = db.prepare(
    'INSERT INTO oathtokens (nickname, publicname, created, secret, active, counter) VALUES (?, ?, ?, ?, 1, 1)',
  );
  const created = new Date().toISOString();
  db.transaction(() => {
    for (let i = 0; i < tokens; i++) {
      const t = token(i);
      insert.run(`bench${i}`, t.publicName, created, t.secret.toString('hex'));
    }
  })();
  db.close();
  // It runs as the user yubiserver: its database directory must be that user's.
  execFileSync('chown', ['-R', 'yubiserver', dir]);
  const out = execFileSync(
    'unshare',
    ['-n', '--', process.execPath, '--import', 'tsx', __filename, '--inside', dir, String(tokens), String(requests)],
    { encoding: 'utf8', timeout: 300_000 },
  );
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as PeerRun;
}

function get(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: 8000, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The daemon's pid: the yubiserver process whose command line names our database (ours alone). */
function daemonPid(file: string): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('yubiserver') && cmd.includes(file)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

async function inside(dir: string, tokens: number, requests: number): Promise<void> {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const file = join(dir, 'yubiserver.sqlite');
  await new Promise<void>((resolve, reject) => {
    const p = spawn('yubiserver', ['-d', file, '-p', '8000', '-l', join(dir, 'yubiserver.log')], { stdio: 'ignore' });
    p.on('exit', () => resolve());
    p.on('error', reject);
  });
  const pid = daemonPid(file);
  try {
    // Wait until it answers (a syntactically valid OTP of an unknown token).
    for (let i = 0; ; i++) {
      try {
        await get('/wsapi/2.0/oauthverify?otp=vvvvvvvvvvvv000000');
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let r = 0; r < requests; r++) {
      // A different token each time (7919 is prime to the token count), its next code.
      const t = token((r * 7919) % tokens);
      const s = performance.now();
      const body = await get(`/wsapi/2.0/oauthverify?otp=${t.publicName}${hotp(t.secret, 2, 6)}`);
      latencies.push(performance.now() - s);
      if (!body.includes('status=OK')) throw new Error(`yubiserver refused a valid code: ${body.trim()}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    const run: PeerRun = { perSecond: requests / seconds, p50: at(0.5), p99: at(0.99), requests };
    console.log(JSON.stringify(run));
  } finally {
    if (pid) process.kill(pid, 'SIGTERM');
  }
}

if (require.main === module && process.argv[2] === '--inside') {
  const [dir, tokens, requests] = process.argv.slice(3);
  inside(dir ?? '', Number(tokens), Number(requests)).catch((err: unknown) => {
    console.error(String(err));
    process.exit(1);
  });
}

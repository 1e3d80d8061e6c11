import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYSTORE_PASSPHRASE } from '../../support/keys';
import { call, cardWithCodes, deskWithKeystore, type Desk } from '../../support/verify-service';

// Issue 10 item 1, durability: the service (`npm run serve:verify`, a process of its own, its
// keystore passphrase handed over on a file descriptor) answers "accepted" for a stream of codes and
// is SIGKILLed right after; restarted on the same database, it refuses every code it had accepted as
// already used. Run in both durability modes. A SIGKILL loses the process, not the operating system's
// page cache, so this shows the mark is committed before the answer; that it is also fsynced before
// the answer is shown in http.test.ts (the group commit's fsync count) and by synchronous=FULL.

const ROOT = join(__dirname, '../../..');

interface Child {
  readonly proc: ChildProcess;
  readonly url: string;
}

function startChild(dataDir: string, durability: 'group' | 'full'): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/verify-service/verify-server.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      OTAC_DATA_DIR: dataDir,
      OTAC_VERIFY_PORT: '0',
      OTAC_VERIFY_DURABILITY: durability,
      OTAC_VERIFY_RATE_PER_N: '1000/1000',
      OTAC_KEYSTORE: 'software',
      OTAC_KEYSTORE_SECRET_FD: '3',
    },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const secretPipe = proc.stdio[3] as NodeJS.WritableStream;
  secretPipe.end(`${KEYSTORE_PASSPHRASE}\n`);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`service did not start: ${out} ${err}`)), 30_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] });
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited (${code}): ${out} ${err}`));
    });
  });
}

function killed(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

describe.each(['group', 'full'] as const)('crash after "accepted" (%s durability)', (durability) => {
  let desk: Desk;
  let key: string;

  beforeAll(async () => {
    desk = await deskWithKeystore();
    // The desk makes the client's key (the CLI does the same on the service host).
    const { VerifyClientService } = await import('../../../src/core/verification/verify-client.service');
    const { SqliteVerifyClientRepository } = await import('../../../src/core/verification/verify-client.repository');
    const { AuditService } = await import('../../../src/core/audit/audit.service');
    key = (
      await new VerifyClientService(new SqliteVerifyClientRepository(desk.ws.db), new AuditService(desk.ws.db)).create({
        name: 'bank',
        scopes: ['verify'],
        by: 'test',
      })
    ).apiKey;
  });
  afterAll(async () => desk?.dispose());

  it('SIGKILL right after a stream of acceptances: every accepted code is refused as used after restart', async () => {
    const cards = await Promise.all(Array.from({ length: 4 }, () => cardWithCodes(desk.ws)));
    const first = await startChild(desk.dataDir, durability);
    const accepted: { n: string; code: string; index: number }[] = [];
    let stop = false;
    // Four streams of in-order codes; the service is killed the moment the 40th acceptance arrives,
    // while the other streams still have requests in flight.
    const streams = cards.map(async ({ card, codes }) => {
      for (let i = 0; i < 30 && !stop; i++) {
        let res;
        try {
          res = await call(first.url, '/v1/verify', { key, body: { n: card.n, code: codes[i] } });
        } catch {
          return; // the connection died with the process: that request's outcome is unknown
        }
        if ((res.body as { result?: string }).result === 'accepted') {
          accepted.push({ n: card.n, code: codes[i] ?? '', index: i + 1 });
          if (accepted.length === 40 && !stop) {
            stop = true;
            first.proc.kill('SIGKILL');
          }
        }
      }
    });
    await Promise.all(streams);
    await killed(first.proc);
    expect(first.proc.signalCode).toBe('SIGKILL');
    expect(accepted.length).toBeGreaterThanOrEqual(40);

    const second = await startChild(desk.dataDir, durability);
    try {
      // With its index, a replay is told apart from a wrong code however far behind it lies (without,
      // verify looks 10 positions back, and an older code is just not the card's current one).
      for (const a of accepted) {
        const res = await call(second.url, '/v1/verify', { key, body: a });
        expect(res.body, a.code).toMatchObject({ result: 'rejected', reason: 'already_used' });
      }
    } finally {
      second.proc.kill('SIGTERM');
      await new Promise((resolve) => second.proc.once('exit', resolve));
    }
    // SIGTERM is a clean stop: the service released its lock (a third start would be allowed).
    expect(second.proc.exitCode).toBe(0);
  }, 120_000);
});

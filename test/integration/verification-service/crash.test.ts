import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  cardWithCodes,
  clientKey,
  deskWithKeystore,
  startServiceProcess,
  type Desk,
} from '../../support/verify-service';

// Issue 10 item 1, durability: the service (`npm run serve:verify`, a process of its own, its
// keystore passphrase handed over on a file descriptor) answers "accepted" for a stream of codes and
// is SIGKILLed right after; restarted on the same database, it refuses every code it had accepted as
// already used. Run in both durability modes. A SIGKILL loses the process, not the operating system's
// page cache, so this shows the mark is committed before the answer; that it is also fsynced before
// the answer is shown in http.test.ts (the group commit's fsync count) and by synchronous=FULL.

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
    key = await clientKey(desk.ws.db, 'verify'); // as the CLI does on the service host
  });
  afterAll(async () => desk?.dispose());

  it('SIGKILL right after a stream of acceptances: every accepted code is refused as used after restart', async () => {
    const cards = await Promise.all(Array.from({ length: 4 }, () => cardWithCodes(desk.ws)));
    const first = await startServiceProcess(desk.dataDir, {
      OTAC_VERIFY_DURABILITY: durability,
      OTAC_VERIFY_RATE_PER_N: '1000/1000',
    });
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

    const second = await startServiceProcess(desk.dataDir, {
      OTAC_VERIFY_DURABILITY: durability,
      OTAC_VERIFY_RATE_PER_N: '1000/1000',
    });
    try {
      // With its index, a replay is told apart from a wrong code however far behind it lies (without,
      // verify looks 10 positions back, and an older code is just not the card's current one).
      for (const a of accepted) {
        const res = await call(second.url, '/v1/verify', { key, body: a });
        expect(res.body, a.code).toMatchObject({ result: 'rejected', reason: 'already_used' });
      }
    } finally {
      // SIGTERM is a clean stop: the service closes and exits 0.
      expect(await second.stop()).toBe(0);
    }
  }, 120_000);
});

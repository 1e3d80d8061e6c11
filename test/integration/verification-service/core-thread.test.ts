import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorAnswer, VerifyAnswer } from '../../../src/verify-service/schemas';
import { main } from '../../../src/verify-service/verify-server';
import {
  call,
  cardWithCodes,
  clientKey,
  deskWithKeystore,
  startServiceProcess,
  type Desk,
  type ServiceProcess,
} from '../../support/verify-service';

// `npm run serve:verify` on two threads (the default, src/verify-service/core-thread.ts): HTTP on the
// main thread, the writer, keystore and core `verify` on a worker thread. The rules that rest on one
// writer and one order per card must hold across that boundary: 64 concurrent requests with one code
// are accepted once; concurrent wrong guesses lock the card after exactly the limit; a core error
// comes back as its precise HTTP error; the per-N rate limit refuses with nothing changed. (Crash
// safety across the threads: crash.test.ts, which runs the same default.)

describe('the verification service on two threads', () => {
  let desk: Desk;
  let svc: ServiceProcess;
  let key: string;
  const verify = (body: unknown) => call(svc.url, '/v1/verify', { key, body });

  beforeAll(async () => {
    desk = await deskWithKeystore();
    key = await clientKey(desk.ws.db, 'verify', 'challenge');
    svc = await startServiceProcess(desk.dataDir, {
      OTAC_VERIFY_RATE_PER_N: '100/0.01',
      OTAC_VERIFY_FAILURE_LIMIT: '3',
    });
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    await desk?.dispose();
  });

  it('ATTACK: 64 concurrent requests with the same code: accepted exactly once', async () => {
    const { card, codes, list } = await cardWithCodes(desk.ws);
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => verify({ n: card.n, code: codes[5], ...(i % 2 ? { index: 6 } : {}) })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const bodies = answers.map((a) => VerifyAnswer.parse(a.body));
    expect(bodies.filter((b) => b.result === 'accepted')).toHaveLength(1);
    expect(bodies.filter((b) => b.result === 'rejected' && b.reason === 'already_used')).toHaveLength(63);
    expect(desk.ws.db.prepare('SELECT COUNT(*) AS n FROM code_uses WHERE list_ref = ?').get(list.id)).toEqual({ n: 1 });
  });

  it('ATTACK: 20 concurrent wrong guesses lock the card after exactly the limit; the right code is then refused', async () => {
    const { card, codes, list } = await cardWithCodes(desk.ws);
    const wrong = (i: number) => String((Number(codes[0]) + 1 + i) % 1_000_000).padStart(6, '0');
    const guesses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => verify({ n: card.n, code: codes.includes(wrong(i)) ? '999999' : wrong(i) })),
    );
    const reasons = guesses.map((g) => (g.body as { reason: string }).reason);
    expect(reasons.filter((r) => r === 'wrong_code')).toHaveLength(3);
    expect(reasons.filter((r) => r === 'too_many_failures')).toHaveLength(17);
    const right = await verify({ n: card.n, code: codes[0] });
    expect(right.body).toMatchObject({ result: 'rejected', reason: 'too_many_failures' });
    expect(desk.ws.db.prepare('SELECT COUNT(*) AS n FROM code_uses WHERE list_ref = ?').get(list.id)).toEqual({ n: 0 });
    expect(desk.ws.db.prepare('SELECT consecutive FROM verification_failures WHERE card_ref = ?').get(card.id)).toEqual(
      { consecutive: 3 },
    );
  });

  it('a core error crosses the threads as its precise answer; accepted codes answer with their count', async () => {
    const unknown = await call(svc.url, '/v1/challenge', { key, body: { n: 'NO-SUCH-CARD' } });
    expect(unknown.status).toBe(404);
    expect(ErrorAnswer.parse(unknown.body).error.code).toBe('UNKNOWN_N');
    const { card, codes } = await cardWithCodes(desk.ws);
    expect((await verify({ n: card.n, code: codes[0] })).body).toEqual({
      result: 'accepted',
      index: 1,
      remaining: 99,
      refillQueued: false,
    });
    expect((await verify({ n: 'NO-SUCH-CARD', code: '123456' })).body).toMatchObject({
      result: 'rejected',
      reason: 'unknown_n',
    });
    const health = await call(svc.url, '/health');
    expect(health.body).toEqual({ status: 'ok', keystore: 'unlocked', database: 'ok' });
  });

  it('refuses a thread count it does not know, before opening anything', async () => {
    await expect(main({ OTAC_DATA_DIR: desk.dataDir, OTAC_VERIFY_THREADS: '3' })).rejects.toThrow(
      /OTAC_VERIFY_THREADS is 2/,
    );
  });
});

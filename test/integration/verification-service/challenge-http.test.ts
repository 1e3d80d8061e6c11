import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChallengeIssued, ErrorAnswer } from '../../../src/verify-service/schemas';
import {
  call,
  cardWithCodes,
  deskWithKeystore,
  startService,
  type Desk,
  type RunningService,
} from '../../support/verify-service';

// Challenge-response over HTTP (issue 10 item 2), the parts that need no card: scopes, bad input,
// unknown N and the OpenAPI description — each refused with a precise JSON error and nothing changed.
// The answers a card computes are in test/integration/clone/clone-and-challenge-over-pcscd.test.ts.

describe('challenge-response over HTTP: scopes and bad input', () => {
  let desk: Desk;
  let svc: RunningService;
  let key: string;

  beforeAll(async () => {
    desk = await deskWithKeystore();
    svc = await startService(desk.dataDir);
    key = await svc.key('challenge');
  });
  afterAll(async () => {
    await svc?.close();
    await desk?.dispose();
  });

  const snapshot = () => ({
    challenges: desk.ws.db.prepare('SELECT * FROM verify_challenges ORDER BY id').all(),
    uses: desk.ws.db.prepare('SELECT * FROM code_uses ORDER BY list_ref, code_index').all(),
    rejections: desk.ws.db.prepare('SELECT COUNT(*) AS n FROM verify_rejections').get(),
  });
  const errorCode = (body: unknown) => ErrorAnswer.parse(body).error.code;

  it('issues a fresh single-use challenge per request, only with the challenge scope', async () => {
    const { card } = await cardWithCodes(desk.ws);
    const a = await call(svc.url, '/v1/challenge', { key, body: { n: card.n } });
    const b = await call(svc.url, '/v1/challenge', { key, body: { n: card.n } });
    expect(a.status).toBe(200);
    const one = ChallengeIssued.parse(a.body);
    const two = ChallengeIssued.parse(b.body);
    expect(one.challenge).toMatch(/^[0-9a-f]{32}$/);
    expect(one.challenge).not.toBe(two.challenge);
    expect(one.challengeId).not.toBe(two.challengeId);
    expect(Date.parse(one.expiresAt) - Date.now()).toBeGreaterThan(100_000);

    const before = snapshot();
    const verifyOnly = await svc.key('verify');
    const denied = await call(svc.url, '/v1/challenge', { key: verifyOnly, body: { n: card.n } });
    expect([denied.status, errorCode(denied.body)]).toEqual([403, 'SCOPE_MISSING']);
    const deniedAnswer = await call(svc.url, '/v1/challenge/answer', {
      key: verifyOnly,
      body: { challengeId: one.challengeId, answer: '00'.repeat(16) },
    });
    expect([deniedAnswer.status, errorCode(deniedAnswer.body)]).toEqual([403, 'SCOPE_MISSING']);
    const anonymous = await call(svc.url, '/v1/challenge', { body: { n: card.n } });
    expect(anonymous.status).toBe(401);
    expect(snapshot()).toEqual(before);
  });

  it('refuses bad input precisely and changes nothing; the challenge stays open', async () => {
    const { card } = await cardWithCodes(desk.ws);
    const issued = ChallengeIssued.parse((await call(svc.url, '/v1/challenge', { key, body: { n: card.n } })).body);
    const before = snapshot();
    const cases: [unknown, number, string][] = [
      [{ n: 'N-NOBODY-AT-ALL' }, 404, 'UNKNOWN_N'],
      [{ n: card.n, extra: 1 }, 400, 'UNKNOWN_FIELD'],
      [{ n: '' }, 400, 'BAD_REQUEST'],
    ];
    for (const [body, status, code] of cases) {
      const r = await call(svc.url, '/v1/challenge', { key, body });
      expect([r.status, errorCode(r.body)], JSON.stringify(body)).toEqual([status, code]);
    }
    const answers: [unknown, number, string][] = [
      [{ challengeId: issued.challengeId, answer: 'zz'.repeat(21) }, 400, 'BAD_REQUEST'],
      [{ challengeId: issued.challengeId, answer: '00'.repeat(20) }, 400, 'BAD_REQUEST'],
      [{ challengeId: issued.challengeId }, 400, 'BAD_REQUEST'],
      [{ challengeId: 'X'.repeat(32), answer: '00'.repeat(16) }, 400, 'BAD_REQUEST'],
      [{ challengeId: issued.challengeId, answer: '00'.repeat(16), n: card.n }, 400, 'UNKNOWN_FIELD'],
    ];
    for (const [body, status, code] of answers) {
      const r = await call(svc.url, '/v1/challenge/answer', { key, body });
      expect([r.status, errorCode(r.body)], JSON.stringify(body)).toEqual([status, code]);
    }
    // An index of 0 in a well-formed code answer: a precise refusal before the challenge is taken.
    const zero = await call(svc.url, '/v1/challenge/answer', {
      key,
      body: { challengeId: issued.challengeId, answer: '00'.repeat(21) },
    });
    expect([zero.status, errorCode(zero.body)]).toEqual([400, 'BAD_REQUEST']);
    expect(snapshot()).toEqual(before);
  });

  it('the OpenAPI document describes both routes from the same schemas', async () => {
    const r = await call(svc.url, '/openapi.json');
    const paths = (r.body as { paths: Record<string, unknown> }).paths;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/v1/challenge', '/v1/challenge/answer']));
    expect(JSON.stringify(paths['/v1/challenge/answer'])).toContain('challenge_used');
  });
});

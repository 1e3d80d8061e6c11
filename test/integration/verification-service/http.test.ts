import { request as httpRequest } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteCardRepository } from '../../../src/core/cards/card.repository';
import { SqliteListRepository } from '../../../src/core/lists/list.repository';
import { VerifyAnswer, ErrorAnswer } from '../../../src/verify-service/schemas';
import {
  call,
  cardWithCodes,
  deskWithKeystore,
  startService,
  type Desk,
  type RunningService,
} from '../../support/verify-service';
import { thrown } from '../../support/thrown';
import { addOperator, value } from '../../support/operators';
import { openVerificationCore, SERVICE_ACTOR, walSyncCount } from '../../../src/verify-service/service-core';
import { KEYSTORE_PASSPHRASE } from '../../support/keys';

// Issue 10 item 1: the verification service over HTTP on loopback, beside a running desk on the same
// data directory and database. Each rejection reason; bad input answered with a precise JSON error
// and nothing changed; 64 concurrent requests for one code; the per-N rate limit; metrics, health and
// the OpenAPI document; a bounded load.

const MANAGER = { operatorId: 7, operator: 'mia', role: 'manager' as const };

describe('verification service over HTTP, beside a desk', () => {
  let desk: Desk;
  let svc: RunningService;
  let key: string;
  let clock = new Date();

  beforeAll(async () => {
    desk = await deskWithKeystore();
    svc = await startService(desk.dataDir, { failureLimit: 3, now: () => clock });
    key = await svc.key('verify');
  });
  afterAll(async () => {
    await svc?.close();
    await desk?.dispose();
  });

  /** Everything a request could change: lists, uses, the lockout, the audit trail. */
  const snapshot = () => ({
    lists: desk.ws.db.prepare('SELECT * FROM code_lists ORDER BY id').all(),
    uses: desk.ws.db.prepare('SELECT * FROM code_uses ORDER BY list_ref, code_index').all(),
    failures: desk.ws.db.prepare('SELECT * FROM verification_failures ORDER BY card_ref').all(),
    audit: desk.ws.db.prepare('SELECT COUNT(*) AS n FROM audit_log').get(),
  });
  const verify = (body: unknown, k: string | undefined = key) => call(svc.url, '/v1/verify', { key: k, body });

  it('accepts a code once, after a WAL fsync that follows its mark (group commit), and the desk sees the use', async () => {
    const { card, codes, list } = await cardWithCodes(desk.ws);
    const syncs = walSyncCount(svc.core.db);
    const first = await verify({ n: card.n, code: codes[0] });
    expect(walSyncCount(svc.core.db)).toBeGreaterThan(syncs);
    expect(first.status).toBe(200);
    expect(VerifyAnswer.parse(first.body)).toEqual({
      result: 'accepted',
      index: 1,
      remaining: 99,
      refillQueued: false,
    });
    // The service syncs the WAL itself (NORMAL: SQLite does not); the 'full' mode leaves it to SQLite.
    expect(svc.core.durability).toBe('group');
    expect(svc.core.db.pragma('synchronous', { simple: true })).toBe(1);
    expect(await new SqliteListRepository(desk.ws.db).byId(list.id)).toMatchObject({ nextIndex: 2, usedCount: 1 });
    const again = await verify({ n: card.n, code: codes[0] });
    expect(again.body).toMatchObject({ result: 'rejected', reason: 'already_used' });
    expect(VerifyAnswer.parse(again.body)).toBeTruthy();
  });

  it('the refill-due state follows the uses (000 claim 3) and shows at the desk through its contract', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const clerk = await addOperator(desk.ws, 'clerk');
    // 100 codes, threshold 10 (policy defaults): the 90th use leaves 10 and queues the next list.
    for (let i = 0; i < 89; i++) {
      const res = await verify({ n: card.n, code: codes[i], index: i + 1 });
      expect(res.body).toMatchObject({ result: 'accepted', refillQueued: false });
    }
    const forCard = async () =>
      value(await desk.ws.router.dispatch(clerk.client, 'lists:forCard', { n: card.n })) as {
        lists: { state: string; refillDue: boolean; remaining: number; trigger: string }[];
      };
    expect((await forCard()).lists).toEqual([
      expect.objectContaining({ state: 'active', refillDue: false, remaining: 11 }),
    ]);
    expect((await verify({ n: card.n, code: codes[89], index: 90 })).body).toEqual({
      result: 'accepted',
      index: 90,
      remaining: 10,
      refillQueued: true,
    });
    const lists = (await forCard()).lists;
    expect(lists).toContainEqual(expect.objectContaining({ state: 'active', refillDue: true, remaining: 10 }));
    expect(lists).toContainEqual(expect.objectContaining({ state: 'prepared', trigger: 'threshold' }));
  });

  it('refuses with each reason, and a refusal changes no list and no use mark', async () => {
    const cards = new SqliteCardRepository(desk.ws.db);
    const { card, codes, list } = await cardWithCodes(desk.ws);
    const expectRejected = async (body: unknown, reason: string) => {
      const before = snapshot();
      const res = await verify(body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ result: 'rejected', reason });
      expect((res.body as { message: string }).message.length).toBeGreaterThan(10);
      const after = snapshot();
      expect(after.lists).toEqual(before.lists);
      expect(after.uses).toEqual(before.uses);
    };
    await expectRejected({ n: 'N-NOBODY-1', code: codes[0] }, 'unknown_n');
    expect((await verify({ n: card.n, code: codes[2] })).body).toMatchObject({ result: 'accepted', index: 3 });
    await expectRejected({ n: card.n, code: codes[2] }, 'already_used');
    // Wrong codes count toward the lockout (limit 3 here); an accepted one sets the count back to 0.
    await expectRejected({ n: card.n, code: codes[3] === '000000' ? '000001' : '000000', index: 4 }, 'wrong_code');
    expect((await verify({ n: card.n, code: codes[3] })).body).toMatchObject({ result: 'accepted', index: 4 });
    await expectRejected({ n: card.n, code: codes[0] }, 'not_expected_position'); // skipped, never used
    await expectRejected({ n: card.n, code: codes[20], index: 21 }, 'not_expected_position'); // too far ahead
    // Table expired: the issuer's clock passes expires_at.
    clock = new Date(Date.parse(list.expiresAt) + 1000);
    await expectRejected({ n: card.n, code: codes[4] }, 'table_expired');
    clock = new Date();
    // Card blocked, then unblocked.
    await cards.transition(card.id, ['active'], 'blocked', clock.toISOString());
    await expectRejected({ n: card.n, code: codes[4] }, 'card_blocked');
    await cards.transition(card.id, ['blocked'], 'active', clock.toISOString());
    // A card not activated yet, and one without a list.
    const awaiting = await cardWithCodes(desk.ws);
    await cards.transition(awaiting.card.id, ['active'], 'awaiting_activation', clock.toISOString());
    await expectRejected({ n: awaiting.card.n, code: awaiting.codes[0] }, 'card_not_active');
    const { cardRow } = await import('../../support/cards');
    const bare = (await cardRow(desk.ws.db, { sealMode: 'public-key' })).card;
    await expectRejected({ n: bare.n, code: '123456' }, 'no_active_list');
    // Table disabled by the issuer (a suspected copy).
    await desk.ws.lists.disable(list.id, MANAGER, 'suspected copy');
    await expectRejected({ n: card.n, code: codes[4] }, 'table_disabled');
    // Terminated.
    await cards.transition(card.id, ['active'], 'terminated', clock.toISOString());
    await expectRejected({ n: card.n, code: codes[4] }, 'card_terminated');
  });

  it('ATTACK: codes failing in a row lock the card (too many failures) until the desk clears it', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const wrong = (i: number) => String((Number(codes[0]) + 1 + i) % 1_000_000).padStart(6, '0');
    // 20 concurrent wrong guesses: the card locks after exactly 3, the rest are refused outright.
    const guesses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => verify({ n: card.n, code: codes.includes(wrong(i)) ? '999999' : wrong(i) })),
    );
    const reasons = guesses.map((g) => (g.body as { reason: string }).reason);
    expect(reasons.filter((r) => r === 'wrong_code')).toHaveLength(3);
    expect(reasons.filter((r) => r === 'too_many_failures')).toHaveLength(17);
    const before = snapshot();
    const right = await verify({ n: card.n, code: codes[0] });
    expect(right.body).toMatchObject({ result: 'rejected', reason: 'too_many_failures' });
    expect(snapshot().uses).toEqual(before.uses); // the right code was not used up by the refusal
    expect(await svc.core.verification.failureState(card.n)).toMatchObject({ consecutive: 3 });
    // The desk clears it (its own VerificationService, on its own connection): the code works again.
    expect(await desk.ws.verification.clearFailures(card.n, MANAGER)).toBe(true);
    expect((await verify({ n: card.n, code: codes[0] })).body).toMatchObject({ result: 'accepted', index: 1 });
    expect(await desk.ws.verification.clearFailures(card.n, MANAGER)).toBe(false);
    // The same attack on core verify itself, where 20 calls interleave at every await: still 3.
    const other = await cardWithCodes(desk.ws);
    const wrongOther = (i: number) => String((Number(other.codes[0]) + 1 + i) % 1_000_000).padStart(6, '0');
    const direct = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        svc.core.verification.verify(other.card.n, other.codes.includes(wrongOther(i)) ? '999999' : wrongOther(i)),
      ),
    );
    const directReasons = direct.map((r) => (r.accepted ? 'accepted' : r.reason));
    expect(directReasons.filter((r) => r === 'wrong_code')).toHaveLength(3);
    expect(directReasons.filter((r) => r === 'too_many_failures')).toHaveLength(17);
  });

  it('bad input gets a precise JSON error, marks no use and changes nothing', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const readOnly = await svc.key('read');
    const revoked = await svc.core.clients.create({ name: 'old', scopes: ['verify'], by: 'test' });
    await svc.core.clients.revoke(revoked.client.keyId, 'test');
    const good = { n: card.n, code: codes[0] };
    const cases: [string, Parameters<typeof call>[2], number, string, RegExp?][] = [
      ['malformed JSON', { key, body: '{"n": "X", "code": ' }, 400, 'BAD_JSON'],
      ['empty body', { key, body: '' }, 400, 'EMPTY_BODY'],
      ['a JSON array', { key, body: [good] }, 400, 'BAD_REQUEST'],
      ['an unknown field', { key, body: { ...good, amount: 100 } }, 400, 'UNKNOWN_FIELD', /"amount"/],
      [
        '__proto__',
        { key, body: `{"n":"${card.n}","code":"${codes[0]}","__proto__":{"x":1}}` },
        400,
        'UNKNOWN_FIELD',
        /"__proto__"/,
      ],
      ['a huge body', { key, body: { ...good, pad: 'x'.repeat(20_000) } }, 413, 'BODY_TOO_LARGE'],
      ['text/plain', { key, body: JSON.stringify(good), contentType: 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'a form',
        { key, body: `n=${card.n}&code=${codes[0]}`, contentType: 'application/x-www-form-urlencoded' },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['a non-digit code', { key, body: { n: card.n, code: '12a456' } }, 400, 'BAD_REQUEST', /^code: /],
      ['an over-long code', { key, body: { n: card.n, code: `${codes[0]}12345` } }, 400, 'BAD_REQUEST', /^code: /],
      ['a number for the code', { key, body: { n: card.n, code: Number(codes[0]) } }, 400, 'BAD_REQUEST', /^code: /],
      ['no code', { key, body: { n: card.n } }, 400, 'BAD_REQUEST', /code is missing/],
      ['index 0', { key, body: { ...good, index: 0 } }, 400, 'BAD_REQUEST', /^index: /],
      ['index as text', { key, body: { ...good, index: '1' } }, 400, 'BAD_REQUEST', /^index: /],
      ['a bad N', { key, body: { n: "N'; DROP TABLE cards;--", code: codes[0] } }, 400, 'BAD_REQUEST', /^n: /],
      ['no API key', { body: good }, 401, 'UNAUTHENTICATED'],
      ['a made-up API key', { key: `otac_${'0'.repeat(16)}_${'A'.repeat(43)}`, body: good }, 401, 'BAD_API_KEY'],
      ['a malformed API key', { key: 'hunter2', body: good }, 401, 'BAD_API_KEY'],
      ['a revoked API key', { key: revoked.apiKey, body: good }, 401, 'BAD_API_KEY'],
      ['a key without the verify scope', { key: readOnly, body: good }, 403, 'SCOPE_MISSING'],
    ];
    const before = snapshot();
    for (const [what, opts, status, code, message] of cases) {
      const res = await call(svc.url, '/v1/verify', opts);
      expect(res.status, what).toBe(status);
      const parsed = ErrorAnswer.parse(res.body);
      expect(parsed.error.code, what).toBe(code);
      if (message) expect(parsed.error.message, what).toMatch(message);
      expect(JSON.stringify(res.body), what).not.toContain(codes[0]); // the code is never echoed
    }
    // No Content-Type at all (fetch would add text/plain to a string body: a raw request).
    const raw = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${svc.url}/v1/verify`,
        { method: 'POST', headers: { authorization: `Bearer ${key}` } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(good));
    });
    expect(raw.status).toBe(415);
    expect(ErrorAnswer.parse(JSON.parse(raw.body)).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(snapshot()).toEqual(before);
    // The code sent in every bad request is still unused: the proper request accepts it.
    expect((await verify(good)).body).toMatchObject({ result: 'accepted', index: 1 });
    // Other routes and methods.
    expect((await call(svc.url, '/v1/nothing', { key })).body).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await call(svc.url, '/metrics', { key })).status).toBe(403);
    expect((await call(svc.url, '/metrics')).status).toBe(401);
  });

  it('ATTACK: 64 concurrent requests with the same code: accepted exactly once', async () => {
    const { card, codes, list } = await cardWithCodes(desk.ws);
    const syncs = walSyncCount(svc.core.db);
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => verify({ n: card.n, code: codes[5], ...(i % 2 ? { index: 6 } : {}) })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const bodies = answers.map((a) => VerifyAnswer.parse(a.body));
    expect(bodies.filter((b) => b.result === 'accepted')).toHaveLength(1);
    expect(bodies.filter((b) => b.result === 'rejected' && b.reason === 'already_used')).toHaveLength(63);
    expect(desk.ws.db.prepare('SELECT COUNT(*) AS n FROM code_uses WHERE list_ref = ?').get(list.id)).toEqual({ n: 1 });
    // Every answer waited for a sync (how they share them: test/unit/verify-service/wal-sync.test.ts).
    expect(walSyncCount(svc.core.db) - syncs).toBeGreaterThanOrEqual(1);
  });

  it('the per-N rate limit answers 429 with Retry-After before verify runs; other cards go on', async () => {
    const limited = await startServiceBeside(desk.dataDir);
    try {
      const { card, codes } = await cardWithCodes(desk.ws);
      const other = await cardWithCodes(desk.ws);
      const k = await limited.key('verify');
      for (let i = 0; i < 3; i++)
        expect(
          (await call(limited.url, '/v1/verify', { key: k, body: { n: card.n, code: '000000', index: 99 } })).status,
        ).toBe(200);
      const before = snapshot();
      const res = await call(limited.url, '/v1/verify', { key: k, body: { n: card.n, code: codes[0] } });
      expect(res.status).toBe(429);
      expect(ErrorAnswer.parse(res.body).error.code).toBe('RATE_LIMITED');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(snapshot()).toEqual(before);
      expect(
        (await call(limited.url, '/v1/verify', { key: k, body: { n: other.card.n, code: other.codes[0] } })).body,
      ).toMatchObject({
        result: 'accepted',
      });
    } finally {
      await limited.close();
    }
    // Helper: a second service needs the first one stopped (one service per data directory).
    async function startServiceBeside(dataDir: string): Promise<RunningService> {
      await svc.close();
      const s = await startService(dataDir, { rateLimit: { burst: 3, perSecond: 0.01 } });
      return {
        ...s,
        close: async () => {
          await s.close();
          svc = await startService(desk.dataDir, { failureLimit: 3, now: () => clock });
          key = await svc.key('verify');
        },
      };
    }
  });

  it('one service per data directory: a second is refused while the first runs (the desk runs too)', () => {
    const err = thrown(() =>
      openVerificationCore({ dataDir: desk.dataDir, keystore: { backend: 'software', file: 'x' } }),
    );
    expect(err).toMatchObject({ code: 'ALREADY_RUNNING' });
    expect(err.message).toContain('verification service');
  });

  it('with its keystore locked it answers 503 on health and verify, and marks nothing', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    await svc.core.keystore.lock(null);
    try {
      const before = snapshot();
      expect(await call(svc.url, '/health')).toMatchObject({
        status: 503,
        body: { status: 'unavailable', keystore: 'locked' },
      });
      const res = await verify({ n: card.n, code: codes[0] });
      expect(res.status).toBe(503);
      expect(ErrorAnswer.parse(res.body).error.code).toBe('KEYSTORE_LOCKED');
      expect(snapshot().uses).toEqual(before.uses);
      expect(snapshot().lists).toEqual(before.lists);
    } finally {
      await svc.core.keystore.unlock(KEYSTORE_PASSPHRASE, SERVICE_ACTOR);
    }
    expect((await verify({ n: card.n, code: codes[0] })).body).toMatchObject({ result: 'accepted', index: 1 });
  });

  it('serves health, metrics by outcome with a latency histogram, and the OpenAPI document of its schemas', async () => {
    const health = await call(svc.url, '/health');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', keystore: 'unlocked', database: 'ok' } });
    const { card, codes } = await cardWithCodes(desk.ws);
    await verify({ n: card.n, code: codes[0] });
    await verify({ n: card.n, code: codes[0] });
    await verify({ n: card.n, code: 'abc' });
    const metrics = await call(svc.url, '/metrics', { key: await svc.key('read') });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = String(metrics.body);
    expect(text).toMatch(/otac_verify_requests_total\{route="\/v1\/verify",outcome="accepted"\} [1-9]\d*/);
    expect(text).toMatch(/otac_verify_requests_total\{route="\/v1\/verify",outcome="already_used"\} [1-9]/);
    expect(text).toMatch(/otac_verify_requests_total\{route="\/v1\/verify",outcome="BAD_REQUEST"\} [1-9]/);
    expect(text).toMatch(/otac_verify_request_duration_seconds_bucket\{route="\/v1\/verify",le="\+Inf"\} [1-9]/);
    expect(text).toMatch(/otac_verify_request_duration_seconds_count\{route="\/v1\/verify"\} [1-9]/);
    const spec = (await call(svc.url, '/openapi.json')).body as {
      openapi: string;
      paths: Record<
        string,
        { post?: { requestBody: { content: Record<string, { schema: Record<string, unknown> }> } } }
      >;
    };
    expect(spec.openapi).toBe('3.0.3');
    const schema = spec.paths['/v1/verify']?.post?.requestBody.content['application/json']?.schema;
    expect(schema).toMatchObject({ type: 'object', additionalProperties: false, required: ['n', 'code'] });
    expect(JSON.stringify(schema)).toContain('^\\\\d{6,10}$');
  });

  it('a bounded load (2,000 requests, 32 at a time) answers every one without an error', async () => {
    const cards = await Promise.all(Array.from({ length: 16 }, () => cardWithCodes(desk.ws)));
    const statuses = new Map<string, number>();
    let accepted = 0;
    // 16 cards × 60 codes in order (one stream per card), plus 1,040 wrong or replayed ones beside them.
    const streams = cards.map(async ({ card, codes }) => {
      for (let i = 0; i < 60; i++) {
        const res = await verify({ n: card.n, code: codes[i] });
        statuses.set(String(res.status), (statuses.get(String(res.status)) ?? 0) + 1);
        if ((res.body as { result?: string }).result === 'accepted') accepted++;
        if (i % 4 === 0) {
          const replay = await verify({ n: card.n, code: codes[i] });
          statuses.set(String(replay.status), (statuses.get(String(replay.status)) ?? 0) + 1);
        }
      }
    });
    const noise = Array.from({ length: 16 }, async (_, s) => {
      for (let i = 0; i < 50; i++) {
        const res = await verify({ n: `N-UNKNOWN-${s}-${i}`, code: '123456' });
        statuses.set(String(res.status), (statuses.get(String(res.status)) ?? 0) + 1);
      }
    });
    await Promise.all([...streams, ...noise]);
    expect(Object.fromEntries(statuses)).toEqual({ '200': 16 * 60 + 16 * 15 + 16 * 50 });
    expect(accepted).toBe(16 * 60);
  });

  it('memory stays flat: a second round of 1,000 requests leaves the heap where the first did', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { card, codes } = await cardWithCodes(desk.ws);
    const round = async () => {
      await Promise.all(
        Array.from({ length: 32 }, async (_, s) => {
          for (let i = 0; i < 31; i++) {
            const res = await verify({
              n: card.n,
              code: codes[(s + i) % 5] === '123456' ? '654321' : '123456',
              index: 99,
            });
            expect(res.status).toBe(200);
          }
        }),
      );
      gc();
      return process.memoryUsage().heapUsed;
    };
    await round(); // warm-up: compiled code, pools, the card's limiter bucket
    const first = await round();
    const second = await round();
    expect(second - first).toBeLessThan(4 * 2 ** 20);
  });
});

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { AppError } from '../core/errors';
import type { Logger } from '../core/log';
import type { VerifyScope } from '../core/verification/verify-client.repository';
import type { VerifyClient, VerifyClientService } from '../core/verification/verify-client.service';
import type { VerificationService } from '../core/verification/verification.service';
import type { VerificationSource } from '../core/verification/verification-events.repository';
import type { ClientCertificateService } from '../core/verification/client-certificate.service';
import { certificateClient } from './client-certificate-auth';
import { ServiceMetrics } from './metrics';
import { DEFAULT_RATE_LIMIT, PerKeyRateLimiter, type RateLimit } from './rate-limit';
import type { ChallengeService } from '../core/verification/challenge.service';
import {
  CHALLENGE_MESSAGES,
  ChallengeAnswer,
  ChallengeAnswerRequest,
  ChallengeIssued,
  ChallengeRequest,
  REASON_MESSAGES,
  VerifyAnswer,
  VerifyRequest,
  openApiDocument,
  type ErrorAnswer,
  type ErrorCode,
  type HealthAnswer,
} from './schemas';

// The verification service over HTTP (issue 10 item 1; docs/verification-service.md): JSON in and
// out, every body checked against the zod schemas before core `verify` runs, every failure a
// precise JSON error. This file adds only HTTP: the decision and the use mark are core's.

export interface VerifyAppDeps {
  readonly verification: Pick<VerificationService, 'verify'>;
  readonly clients: Pick<VerifyClientService, 'authenticate'>;
  /** Challenge-response (scope challenge); without it the two routes answer 404. */
  readonly challenges?: Pick<ChallengeService, 'issue' | 'answer'>;
  /** Resolves when every commit so far is on disk (service-core.ts "Durability"). */
  readonly durable: () => Promise<void>;
  /** Whether the keystore is open and the database answers, for /health. */
  readonly ready: () => { keystore: boolean; database: boolean };
  readonly log: Logger;
  readonly version: string;
  readonly rateLimit?: RateLimit;
  /** Bytes; a verify body is under 150. */
  readonly bodyLimit?: number;
  /** With `ca` (the bank CA): mutual TLS, client certificates asked for (client-certificate-auth.ts). */
  readonly https?: { readonly key: Buffer; readonly cert: Buffer; readonly ca?: Buffer };
  /** Certificate clients by fingerprint; without it a client certificate is ignored. */
  readonly certificates?: Pick<ClientCertificateService, 'byFingerprint'>;
}

export const DEFAULT_BODY_LIMIT = 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

// What a request carries beside Fastify's own fields: its arrival (ns), its outcome for the metrics,
// the client it authenticated as. Request decorations, not WeakMaps: three map writes per request
// showed in the profile (docs/verification-service.md "Scale").
declare module 'fastify' {
  interface FastifyRequest {
    otacStarted: bigint;
    otacOutcome: string | null;
    otacClient: VerifyClient | null;
    /** The API key id to confirm in the decision's read (a key answered from memory), else null. */
    otacConfirmKey: string | null;
  }
}

export function buildVerifyApp(deps: VerifyAppDeps): { app: FastifyInstance; metrics: ServiceMetrics } {
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    logger: false,
    bodyLimit,
    ...(deps.https
      ? { https: deps.https.ca ? { ...deps.https, requestCert: true, rejectUnauthorized: false } : deps.https }
      : {}),
  });
  const metrics = new ServiceMetrics();
  const limiter = new PerKeyRateLimiter(deps.rateLimit ?? DEFAULT_RATE_LIMIT);
  const spec = openApiDocument(deps.version);

  // Only JSON: Fastify's text/plain parser goes, and a body of any other type is 415. JSON.parse
  // makes "__proto__" an own property (no prototype is changed); the strict schema refuses it as an
  // unknown field like any other.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(new HttpError(400, 'EMPTY_BODY', 'The body is empty. Send a JSON object.'));
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new HttpError(400, 'BAD_JSON', `The body is not valid JSON (${(err as Error).message}). Fix the JSON.`));
    }
  });

  app.decorateRequest('otacStarted', 0n);
  app.decorateRequest('otacOutcome', null);
  app.decorateRequest('otacClient', null);
  app.decorateRequest('otacConfirmKey', null);
  // Callback hooks, not async ones: no promise per request for what is synchronous work.
  app.addHook('onRequest', (req, _reply, done) => {
    req.otacStarted = process.hrtime.bigint();
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const seconds = req.otacStarted === 0n ? 0 : Number(process.hrtime.bigint() - req.otacStarted) / 1e9;
    const route = req.routeOptions.url ?? 'unknown';
    metrics.observe(route, req.otacOutcome ?? String(reply.statusCode), seconds);
    done();
  });

  // The verify scope's one route, /v1/verify, checks an API key again in its decision's own read (on
  // PostgreSQL: verification-store.pg.ts), so there the key may be answered from the service's memory.
  const requireScope = (scope: VerifyScope) => async (req: FastifyRequest) => {
    const confirmedAtUse = scope === 'verify';
    const byCert = await certificateClient(req, deps.certificates);
    if (byCert.kind === 'refused') throw new HttpError(401, 'BAD_CLIENT_CERTIFICATE', byCert.message);
    if (byCert.kind === 'client') {
      if (!byCert.client.scopes.includes(scope))
        throw new HttpError(
          403,
          'SCOPE_MISSING',
          `This client certificate may not call this: it lacks the "${scope}" scope.`,
        );
      req.otacClient = byCert.client;
      return;
    }
    const header = req.headers.authorization;
    if (!header)
      throw new HttpError(401, 'UNAUTHENTICATED', 'Send the API key as "Authorization: Bearer <key>".', {
        'www-authenticate': 'Bearer',
      });
    const m = /^Bearer ([^\s]+)$/i.exec(header);
    const client = m ? await deps.clients.authenticate(m[1] ?? '', { confirmedAtUse }) : null;
    if (!client)
      throw new HttpError(
        401,
        'BAD_API_KEY',
        'The API key is unknown or revoked. Ask the issuer for a key (npm run verify-client -- create).',
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    if (!client.scopes.includes(scope))
      throw new HttpError(403, 'SCOPE_MISSING', `This API key may not call this: it lacks the "${scope}" scope.`);
    req.otacClient = client;
    if (confirmedAtUse) req.otacConfirmKey = client.keyId;
  };

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toHttpError(err);
    if (e.status >= 500) deps.log.error('verify service error', { url: req.url, error: String(err) });
    req.otacOutcome = e.code;
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    req.otacOutcome = 'NOT_FOUND';
    return sendError(
      reply,
      new HttpError(404, 'NOT_FOUND', `There is no ${req.method} ${req.url.slice(0, 80)}. See /openapi.json.`),
    );
  });

  app.post('/v1/verify', { onRequest: requireScope('verify') }, async (req, reply) => {
    const body = parseBody(VerifyRequest, req.body);
    const wait = limiter.take(body.n);
    if (wait > 0)
      throw new HttpError(429, 'RATE_LIMITED', `Too many requests for this N. Try again in ${wait} s.`, {
        'retry-after': String(wait),
      });
    const caller = req.otacConfirmKey === null ? undefined : { apiKeyId: req.otacConfirmKey };
    const result = await deps.verification.verify(body.n, body.code, body.index, sourceOf(req), caller);
    // No answer before the use mark (or the failure count) is on disk: a crash after "accepted" can
    // never let the code be accepted again. A refusal that wrote nothing waits for a sync too; it is
    // shared with the others in flight, and the answers stay in order of durability.
    await deps.durable();
    const answer: VerifyAnswer = result.accepted
      ? { result: 'accepted', index: result.index, remaining: result.remaining, refillQueued: result.refillQueued }
      : { result: 'rejected', reason: result.reason, message: REASON_MESSAGES[result.reason] };
    req.otacOutcome = result.accepted ? 'accepted' : result.reason;
    // Typed against the schema at compile time; a zod pass over every answer cost more than it checked.
    return reply.code(200).type('application/json').send(answer);
  });

  const challenges = deps.challenges;
  if (challenges) {
    app.post('/v1/challenge', { onRequest: requireScope('challenge') }, async (req, reply) => {
      const body = parseBody(ChallengeRequest, req.body, 'n');
      const wait = limiter.take(body.n);
      if (wait > 0)
        throw new HttpError(429, 'RATE_LIMITED', `Too many requests for this N. Try again in ${wait} s.`, {
          'retry-after': String(wait),
        });
      const issued = await challenges.issue(body.n, sourceOf(req));
      await deps.durable(); // a challenge handed out is one the service still knows after a crash
      req.otacOutcome = 'issued';
      return reply.code(200).type('application/json').send(ChallengeIssued.parse(issued));
    });

    app.post('/v1/challenge/answer', { onRequest: requireScope('challenge') }, async (req, reply) => {
      const body = parseBody(ChallengeAnswerRequest, req.body, 'challengeId and answer');
      const result = await challenges.answer(body.challengeId, body.answer, sourceOf(req));
      // As for verify: no answer before the use mark (and the challenge's single use) is on disk.
      await deps.durable();
      const answer: ChallengeAnswer = result.accepted
        ? result.mode === 'code'
          ? {
              result: 'accepted',
              mode: 'code',
              index: result.index,
              remaining: result.remaining,
              refillQueued: result.refillQueued,
            }
          : { result: 'accepted', mode: 'card' }
        : { result: 'rejected', reason: result.reason, message: CHALLENGE_MESSAGES[result.reason] };
      req.otacOutcome = result.accepted ? 'accepted' : result.reason;
      return reply.code(200).type('application/json').send(ChallengeAnswer.parse(answer));
    });
  }

  app.get('/health', async (req, reply) => {
    const r = deps.ready();
    const answer: HealthAnswer = {
      status: r.keystore && r.database ? 'ok' : 'unavailable',
      keystore: r.keystore ? 'unlocked' : 'locked',
      database: r.database ? 'ok' : 'failed',
    };
    req.otacOutcome = answer.status;
    return reply.code(answer.status === 'ok' ? 200 : 503).send(answer);
  });

  app.get('/metrics', { onRequest: requireScope('read') }, async (req, reply) => {
    req.otacOutcome = 'ok';
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render());
  });

  app.get('/openapi.json', async (req, reply) => {
    req.otacOutcome = 'ok';
    return reply.send(spec);
  });

  return { app, metrics };
}

/** Where a refusal came from, for verify_rejections and suspicion_events: the client's key id. */
function sourceOf(req: FastifyRequest): VerificationSource {
  const client = req.otacClient;
  return client ? `client:${client.keyId}` : 'client:unknown';
}

function sendError(reply: FastifyReply, e: HttpError): FastifyReply {
  const body: ErrorAnswer = { error: { code: e.code, message: e.message } };
  return reply.code(e.status).headers(e.headers).type('application/json').send(body);
}

/** The body as the schema wants it, or the first thing wrong with it, named by field. */
function parseBody<S extends z.ZodType>(schema: S, body: unknown, fields = 'n, code and index'): z.infer<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'BAD_REQUEST', 'The body must be a JSON object such as {"n": "...", "code": "..."}.');
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k.slice(0, 40)}"`).join(', ');
    throw new HttpError(400, 'UNKNOWN_FIELD', `Unknown field ${keys}. The request takes ${fields} only.`);
  }
  const field = issue?.path.join('.') || 'body';
  const what = issue?.code === 'invalid_type' && issue.input === undefined ? `${field} is missing` : issue?.message;
  throw new HttpError(400, 'BAD_REQUEST', `${field}: ${what ?? 'not valid'}. Fix the request and send it again.`);
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof AppError) {
    if (err.code === 'KEYSTORE_LOCKED')
      return new HttpError(503, 'KEYSTORE_LOCKED', 'The service cannot check codes: its keystore is not unlocked.');
    if (err.code === 'VERIFY_BAD_INPUT' || err.code === 'CHALLENGE_BAD_ANSWER')
      return new HttpError(400, 'BAD_REQUEST', err.message);
    if (err.code === 'CHALLENGE_UNKNOWN_N') return new HttpError(404, 'UNKNOWN_N', err.message);
    // A key answered from memory, found revoked by the decision's read: as if looked up (requireScope).
    if (err.code === 'VERIFY_CLIENT_REVOKED')
      return new HttpError(401, 'BAD_API_KEY', err.message, { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  const fastifyCode = (err as { code?: string }).code;
  switch (fastifyCode) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(
        413,
        'BODY_TOO_LARGE',
        'The body is larger than this service takes. Send n, code and index only.',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'Send the body as JSON with "Content-Type: application/json".',
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'EMPTY_BODY', 'The body is empty. Send a JSON object.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, 'BAD_JSON', 'The body is not valid JSON. Fix the JSON.');
  }
  if (err instanceof SyntaxError || (err as { statusCode?: number }).statusCode === 400)
    return new HttpError(400, 'BAD_JSON', 'The body is not valid JSON (or holds a forbidden key such as "__proto__").');
  return new HttpError(
    500,
    'INTERNAL',
    'The service failed on this request. Try again later; a code it may have used is refused as already used.',
  );
}

import { createHash, timingSafeEqual } from 'node:crypto';
import { createLogger } from '../../src/core/log';
import type { VerifyClient } from '../../src/core/verification/verify-client.service';
import { buildVerifyApp } from '../../src/verify-service/app';

// The ceiling of the verification service on this machine (bench/verify.bench.ts, issue 12): the
// service's own HTTP path — Fastify, the JSON body, the zod schema, the per-N rate limit, the
// bearer key's SHA-256 and constant-time compare, the answer's JSON, the metrics — with the
// decision answered from memory (every code accepted, nothing read or written). Run as its own
// process like the real service, so the load generator, this process and PostgreSQL share the
// cores as they do in the PostgreSQL runs: what it reaches bounds what any database path can.
// Never a service: it checks no code. Prints "listening on <url>" as verify-server.ts does.

const KEY = process.env['OTAC_BENCH_KEY'] ?? '';
const m = /^otac_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(KEY);
if (!m) throw new Error('OTAC_BENCH_KEY must be an API key');
const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const stored = sha(m[2] ?? '');
const client: VerifyClient = {
  keyId: m[1] ?? '',
  name: 'bench',
  scopes: ['verify'],
  createdAt: new Date().toISOString(),
  createdBy: 'bench',
  revokedAt: null,
};

async function main(): Promise<void> {
  const next = new Map<string, number>();
  const { app } = buildVerifyApp({
    verification: {
      // The same answer shape as an acceptance; the index must move forward, as a use mark's would.
      verify: (n: string, _code: string, index?: number) => {
        const at = index ?? next.get(n) ?? 1;
        next.set(n, at + 1);
        return Promise.resolve({ accepted: true as const, index: at, remaining: 100 - at, refillQueued: false });
      },
    },
    clients: {
      authenticate: (apiKey: string) => {
        const k = /^otac_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(apiKey);
        const same = k !== null && k[1] === client.keyId && timingSafeEqual(sha(k[2] ?? ''), stored);
        return Promise.resolve(same ? client : null);
      },
    },
    durable: () => Promise.resolve(),
    ready: () => ({ keystore: true, database: true }),
    log: createLogger(null),
    version: 'bench',
    rateLimit: { burst: 1000, perSecond: 1000 },
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  console.log(`verification service (without database) listening on ${address}`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main();

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditLog } from '../../../src/core/audit/audit-log.pg';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { applyRoles, createLoginRole } from '../../../src/core/db/pg/roles';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy-values';
import { openPgVerificationCore } from '../../../src/verify-service/service-core.pg';
import { run as clientCli } from '../../../src/verify-service/verify-client-cli';
import { startPostgres, type TestPostgres } from '../../support/postgres';
import { pgIssuer, type PgIssuer } from '../../support/verify-service-pg';
import {
  call,
  deskWithKeystore,
  startServiceProcess,
  type Desk,
  type ServiceProcess,
} from '../../support/verify-service';

// Issue 12 "Done when", the verification part: three verification service processes against one
// PostgreSQL, signed in with the verification service's least-privilege role. The card and its list are made through the real services on that database (ListService
// and the keystore, composed as the service composes them); the keystore is a desk's, copied to each
// instance's own data directory. Then: one code sent 64 times at once over the three is accepted
// exactly once with one use mark; the audit chain the three wrote verifies; a client revoked in the
// database is refused by every instance at its next request; wrong codes counted on different
// instances reach the lockout's limit once; a policy saved elsewhere applies at the next request.

const FAILURE_LIMIT = 5;

describe('three verification service instances on one PostgreSQL', () => {
  let server: TestPostgres;
  let desk: Desk;
  let url: string;
  let db: PgDatabase;
  let issuer: PgIssuer;
  let dbName: string;
  const instances: ServiceProcess[] = [];
  let apiKey: string;

  const newCard = () => issuer.cardWithCodes();
  const verify = (i: number, body: unknown, key = apiKey) =>
    call(instances[i % instances.length]!.url, '/v1/verify', { key, body });

  beforeAll(async () => {
    server = await startPostgres();
    dbName = await server.createDatabase();
    url = server.url(dbName);
    db = new PgDatabase({ url });
    await migratePg(db);
    desk = await deskWithKeystore();
    issuer = await pgIssuer(desk, url);
    apiKey = await issuer.clientKey('verify');
    // The instances sign in as a login of the verification service's group (roles.ts): everything
    // below also shows the service needs no privilege beyond otac_verify's. The cluster trusts
    // loopback logins, so the URL carries no password.
    await applyRoles(db);
    await createLoginRole(db, 'verify_it', 'otac_verify', 'verify-password-0123456789');
    const env = {
      OTAC_DATABASE_URL: url.replace('postgres@', 'verify_it@'),
      OTAC_VERIFY_RATE_PER_N: '1000/1000',
      OTAC_VERIFY_FAILURE_LIMIT: String(FAILURE_LIMIT),
      OTAC_DATABASE_POOL: '8',
    };
    instances.push(...(await Promise.all([0, 1, 2].map(() => startServiceProcess(issuer.instanceDir(), env)))));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(instances.map((p) => p.stop()));
    await issuer?.close();
    await db?.close();
    await desk?.dispose();
    server?.stop();
  }, 60_000);

  it('64 verifications of one code at once over three instances: accepted once, one use mark, 63 already used', async () => {
    const { card, codes, list } = await newCard();
    const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => verify(i, { n: card.n, code: codes[0] })));
    expect(answers.map((a) => a.status)).toEqual(Array(64).fill(200));
    const accepted = answers.filter((a) => (a.body as { result: string }).result === 'accepted');
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.body).toMatchObject({ index: 1, remaining: 99 });
    const reasons = answers.map((a) => (a.body as { reason?: string }).reason).filter(Boolean);
    expect(reasons).toEqual(Array(63).fill('already_used'));
    const uses = await server.admin<{ code_index: number }>(
      dbName,
      'SELECT code_index::int FROM code_uses WHERE list_ref = $1',
      [list.id],
    );
    expect(uses).toEqual([{ code_index: 1 }]);
    const [row] = await server.admin<{ next_index: number; used_count: number }>(
      dbName,
      'SELECT next_index::int, used_count::int FROM code_lists WHERE id = $1',
      [list.id],
    );
    expect(row).toMatchObject({ next_index: 2, used_count: 1 });
    // The requests went round-robin (22, 21, 21 per instance): the race was between processes.
    const refusedAudit = await server.admin<{ n: number }>(
      dbName,
      "SELECT count(*)::int AS n FROM audit_log WHERE action = 'verification.refused' AND object = $1",
      [`card:${card.n}`],
    );
    expect(refusedAudit[0]?.n).toBe(63);
    // The instances' connections are the least-privilege login's.
    const logins = await server.admin<{ usename: string }>(
      dbName,
      "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 AND application_name = 'otac-verify-service'",
      [dbName],
    );
    expect(logins.map((l) => l.usename)).toContain('verify_it');
    // The chain the three instances (and the seeding) wrote at once is one unbroken chain.
    const rows = await new PgAuditLog(db).entries();
    expect(verifyAuditChain(arrayChainSource(rows, []), null)).toMatchObject({ ok: true, entries: rows.length });
  });

  it('a client revoked in the database is refused by every instance at its next request', async () => {
    const { card, codes } = await newCard();
    const other = (await issuer.core.clients.create({ name: 'call-centre', scopes: ['verify'], by: 'test' })).apiKey;
    for (let i = 0; i < 3; i++) {
      const res = await verify(i, { n: card.n, code: codes[i], index: i + 1 }, other);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ result: 'accepted' });
    }
    const keyId = other.split('_')[1]!;
    // Revoked as an administrator does it: the CLI, on the shared database (no instance involved).
    expect(await clientCli(['revoke', keyId], { OTAC_DATABASE_URL: url })).toMatch(/revoked/);
    for (let i = 0; i < 3; i++) {
      const res = await verify(i, { n: card.n, code: codes[3 + i], index: 4 + i }, other);
      expect(res.status).toBe(401);
    }
    // Nothing was used by the refused requests; the other client still works everywhere.
    const [row] = await server.admin<{ used_count: number }>(
      dbName,
      'SELECT l.used_count::int FROM code_lists l JOIN cards c ON c.id = l.card_ref WHERE c.n = $1',
      [card.n],
    );
    expect(row?.used_count).toBe(3);
    expect((await verify(1, { n: card.n, code: codes[3], index: 4 })).body).toMatchObject({ result: 'accepted' });
  });

  it('wrong codes counted on different instances reach the lockout limit once', async () => {
    const { card, codes } = await newCard();
    const wrong = (c: string) => String((Number(c) + 1) % 10 ** c.length).padStart(c.length, '0');
    for (let i = 0; i < FAILURE_LIMIT - 1; i++) {
      const res = await verify(i, { n: card.n, code: wrong(codes[0]!), index: 1 });
      expect(res.body).toMatchObject({ result: 'rejected', reason: 'wrong_code' });
    }
    // One short of the limit: the right code still passes, on yet another instance — and resets the count.
    expect((await verify(2, { n: card.n, code: codes[0], index: 1 })).body).toMatchObject({ result: 'accepted' });
    for (let i = 0; i < FAILURE_LIMIT; i++) {
      const res = await verify(i, { n: card.n, code: wrong(codes[1]!), index: 2 });
      expect(res.body).toMatchObject({ result: 'rejected', reason: 'wrong_code' });
    }
    // The fifth failure, counted over three processes, locked the card: every instance refuses now,
    // the right code included, and nothing is used.
    for (let i = 0; i < 3; i++) {
      const res = await verify(i, { n: card.n, code: codes[1], index: 2 });
      expect(res.body).toMatchObject({ result: 'rejected', reason: 'too_many_failures' });
    }
    const [f] = await server.admin<{ consecutive: number; locked_at: string | null }>(
      dbName,
      'SELECT f.consecutive::int, f.locked_at FROM verification_failures f JOIN cards c ON c.id = f.card_ref WHERE c.n = $1',
      [card.n],
    );
    expect(f?.consecutive).toBe(FAILURE_LIMIT);
    expect(f?.locked_at).not.toBeNull();
    const uses = await server.admin<{ n: number }>(
      dbName,
      'SELECT count(*)::int AS n FROM code_uses u JOIN code_lists l ON l.id = u.list_ref JOIN cards c ON c.id = l.card_ref WHERE c.n = $1',
      [card.n],
    );
    expect(uses[0]?.n).toBe(1);
  });

  it('wrong codes sent at once over three instances lock the card once; the right code is refused after', async () => {
    const { card, codes } = await newCard();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        verify(i, { n: card.n, code: String((Number(codes[0]) + 1 + i) % 10 ** 6).padStart(6, '0'), index: 1 }),
      ),
    );
    const reasons = answers.map((a) => (a.body as { reason?: string }).reason);
    expect(reasons.every((r) => r === 'wrong_code' || r === 'too_many_failures')).toBe(true);
    expect(reasons.filter((r) => r === 'wrong_code').length).toBeGreaterThanOrEqual(FAILURE_LIMIT);
    const [f] = await server.admin<{ locked_at: string | null }>(
      dbName,
      'SELECT f.locked_at FROM verification_failures f JOIN cards c ON c.id = f.card_ref WHERE c.n = $1',
      [card.n],
    );
    expect(f?.locked_at).not.toBeNull();
    for (let i = 0; i < 3; i++)
      expect((await verify(i, { n: card.n, code: codes[0], index: 1 })).body).toMatchObject({
        reason: 'too_many_failures',
      });
  });

  it('a policy version saved elsewhere applies at every instance at its next request', async () => {
    const { card, codes } = await newCard();
    // Default look-ahead 10: code 6 (skipping 1–5) is accepted; then look-ahead 2 is saved at "a desk".
    expect((await verify(0, { n: card.n, code: codes[5] })).body).toMatchObject({ result: 'accepted', index: 6 });
    // The desks' policy repository on PostgreSQL is another change's: the row it would write, by SQL.
    const at = new Date().toISOString();
    const [mia] = await server.admin<{ id: number }>(
      dbName,
      `INSERT INTO operators (username, display_name, role, password_hash, created_at, updated_at)
       VALUES ('mia', 'Mia', 'manager', 'x', $1, $1) RETURNING id::int`,
      [at],
    );
    const [head] = await server.admin<{ v: number | null }>(
      dbName,
      'SELECT max(version)::int AS v FROM policy_versions',
    );
    await server.admin(
      dbName,
      `INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by)
       VALUES ($1, $2, $3, $4, 'mia')`,
      [(head?.v ?? 0) + 1, JSON.stringify({ ...DEFAULT_POLICIES, verifyLookAhead: 2 }), at, mia!.id],
    );
    // Code 10 is 3 ahead of the next expected (7): within the old 10, beyond the new 2 — refused at
    // each instance at its very next request.
    for (let i = 0; i < 3; i++)
      expect((await verify(i, { n: card.n, code: codes[9], index: 10 })).body).toMatchObject({
        result: 'rejected',
        reason: 'not_expected_position',
      });
    expect((await verify(2, { n: card.n, code: codes[7] })).body).toMatchObject({ result: 'accepted', index: 8 });
  });

  it('refuses to start on a database without the issuer schema, creating nothing', async () => {
    const empty = await server.createDatabase();
    const dir = issuer.instanceDir();
    await expect(
      openPgVerificationCore({
        dataDir: dir,
        keystore: { backend: 'software', file: join(dir, 'keystore', 'keystore.otacks') },
        databaseUrl: server.url(empty),
      }),
    ).rejects.toMatchObject({ code: 'DB_NOT_MIGRATED' });
    const tables = await server.admin<{ n: number }>(
      empty,
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'",
    );
    expect(tables[0]?.n).toBe(0);
  });
});

import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditLog } from '../../../src/core/audit/audit-log.pg';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { PgCardRepository } from '../../../src/core/cards/card.repository.pg';
import { PgCustomerRepository } from '../../../src/core/customers/customer.repository.pg';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { pgSettingsFromEnv } from '../../../src/core/db/pg/pg-config';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import {
  APPEND_ONLY_TABLES,
  GROUP_ROLES,
  ROLE_GRANTS,
  applyRoles,
  createLoginRole,
  type GroupRole,
} from '../../../src/core/db/pg/roles';
import { PgListRepository } from '../../../src/core/lists/list.repository.pg';
import { PgChallengeRepository } from '../../../src/core/verification/challenge.repository.pg';
import { PgFailureCounterRepository } from '../../../src/core/verification/failure.repository.pg';
import { PgVerificationEventsRepository } from '../../../src/core/verification/verification-events.repository.pg';
import { PgVerifyClientRepository } from '../../../src/core/verification/verify-client.repository.pg';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 4: least-privilege database roles. Each login works through the real PostgreSQL
// repositories for what its group is for, and every attack outside it — the verification service
// rewriting or deleting audit entries, reading password hashes, changing policies; the auditor
// writing anything; a desk deleting audit rows — is refused by the server with nothing changed.
// Logins sign in with their password (scram-sha-256), so the verifier createLoginRole stores works.

const at = '2026-12-03T10:00:00.000Z';
const by = { operator: 'mia', at };
const PASSWORD: Record<GroupRole, string> = {
  otac_workstation: 'desk-password-0123456789',
  otac_verify: 'verify-password-0123456789',
  otac_auditor: 'auditor-password-0123456789',
};
const LOGIN: Record<GroupRole, string> = {
  otac_workstation: 'desk_01',
  otac_verify: 'verify_01',
  otac_auditor: 'audit_01',
};

const OWNER_PASSWORD = 'owner-password-0123456789';
let server: TestPostgres;
let database: string;
let owner: PgDatabase;
const pools: Partial<Record<GroupRole, PgDatabase>> = {};
const as = (role: GroupRole): PgDatabase => pools[role]!;
const loginUrl = (user: string, password: string) =>
  `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/${database}`;

/** A fingerprint of a table's whole content, read as the superuser. */
async function snapshot(table: string): Promise<string> {
  const [row] = await server.admin<{ h: string | null; n: string }>(
    database,
    `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS h, count(*) AS n FROM ${table} t`,
  );
  return `${row?.n}:${row?.h}`;
}

async function refused(promise: Promise<unknown>, what: RegExp = /permission denied/): Promise<void> {
  const err: unknown = await promise.then(
    () => new Error('expected a refusal, but the statement ran'),
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ code: '42501' });
  expect((err as Error).message).toMatch(what);
}

let cardRef = 0;
let listRef = 0;
let cardN = '';

beforeAll(async () => {
  server = await startPostgres({ passwords: true });
  // The owner as docs/storage.md sets it up: not a superuser, a login with CREATEROLE that owns the database.
  await server.admin('postgres', `CREATE ROLE otac_owner LOGIN CREATEROLE PASSWORD '${OWNER_PASSWORD}'`);
  database = `roles_${process.pid}`;
  await server.admin('postgres', `CREATE DATABASE ${database} OWNER otac_owner`);
  owner = new PgDatabase({ url: loginUrl('otac_owner', OWNER_PASSWORD) });
  await migratePg(owner);
  await applyRoles(owner);
  for (const role of GROUP_ROLES) {
    await createLoginRole(owner, LOGIN[role], role, PASSWORD[role]);
    pools[role] = new PgDatabase({ url: loginUrl(LOGIN[role], PASSWORD[role]), maxConnections: 4 });
  }
  // The owner seeds what a desk would have made: an operator, a policy version, a card with an active list.
  await owner.query(
    `INSERT INTO operators (username, display_name, role, password_hash, created_at, updated_at)
     VALUES ('mia', 'Mia', 'security_officer', 'scrypt$secret-hash', ?, ?)`,
    [at, at],
  );
  await owner.query(
    `INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by) VALUES (1, '{}', ?, 1, 'mia')`,
    [at],
  );
  const customer = await new PgCustomerRepository(owner).insert(
    {
      customerRef: 'C-1',
      fullName: 'Ada Lovelace',
      birthDate: null,
      address: { line1: '1 Way', line2: null, postalCode: '1', city: 'London', country: 'GB' },
      email: null,
      mobile: null,
      branch: 'Branch 01',
    },
    by,
  );
  const card = await new PgCardRepository(owner).insert(
    { cardId: '0102AA', customerId: customer.id, n: 'N-ROLES-1', sealMode: 'card-key' },
    by,
  );
  cardRef = card.id;
  cardN = card.n;
  const lists = new PgListRepository(owner);
  const { list } = await lists.queue(
    {
      cardRef,
      listId: 'a'.repeat(32),
      length: 10,
      digits: 6,
      threshold: 2,
      expiresAt: '2027-12-03T00:00:00.000Z',
      trigger: 'first',
    },
    by,
  );
  await lists.recordSealing(list.id, { mkVersion: 1, sealedFor: `card:${cardRef}`, bodyHash: 'cd'.repeat(32) }, at);
  for (const to of ['staged', 'committed', 'receipt_verified'] as const)
    await lists.transition(list.id, [list.state, 'prepared', 'staged', 'committed'], to, at);
  listRef = (await lists.activate(list.id, at))!.id;
  await new PgAuditLog(owner).append({
    operatorId: 1,
    operator: 'mia',
    role: 'security_officer',
    action: 'test.seed',
    outcome: 'ok',
  });
  await new PgVerifyClientRepository(owner).insert({
    keyId: 'k'.repeat(16),
    keyHash: 'ab'.repeat(32),
    name: 'Online banking',
    scopes: ['verify'],
    createdAt: at,
    createdBy: 'mia',
  });
});

afterAll(async () => {
  await Promise.all([owner, ...Object.values(pools)].map((p) => p?.close()));
  server?.stop();
});

describe('least-privilege roles: each does its own work', () => {
  it('a login signs in with its password only, and is a member of its one group', async () => {
    const wrong = new PgDatabase({ url: loginUrl(LOGIN.otac_verify, 'not-the-password-000000') });
    await expect(wrong.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
    await wrong.close();
    for (const role of GROUP_ROLES) {
      const rows = await as(role).query<{ r: string }>(
        `SELECT b.rolname AS r FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
          JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = current_user`,
      );
      expect(rows.map((r) => r.r)).toEqual([role]);
    }
    // The groups themselves cannot sign in, and no login is a superuser or may create roles.
    const attrs = await server.admin<{
      rolname: string;
      rolcanlogin: boolean;
      rolsuper: boolean;
      rolcreaterole: boolean;
    }>(database, 'SELECT rolname, rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = ANY($1)', [
      [...GROUP_ROLES, ...Object.values(LOGIN)],
    ]);
    expect(attrs).toHaveLength(6);
    for (const a of attrs) {
      expect(a.rolcanlogin).toBe(!a.rolname.startsWith('otac_'));
      expect(a.rolsuper || a.rolcreaterole).toBe(false);
    }
  });

  it('the verification role verifies: reads the card, marks a use, counts a failure, records a refusal, a challenge and an audit entry', async () => {
    const v = as('otac_verify');
    expect((await new PgCardRepository(v).byN(cardN))?.id).toBe(cardRef);
    const lists = new PgListRepository(v);
    expect(await lists.markUse(listRef, 1, 10, at)).not.toBeNull();
    expect(await lists.isUsed(listRef, 1)).toBe(true);
    expect(await new PgFailureCounterRepository(v).recordFailure(cardRef, 5, at)).toMatchObject({ consecutive: 1 });
    await new PgVerificationEventsRepository(v).recordRefusal(
      { cardRef, listRef, reason: 'already_used', source: 'client:k', at },
      { cardRef, listRef, kind: 'code_replayed', codeIndex: 1, source: 'client:k', at },
    );
    const challenges = new PgChallengeRepository(v);
    await challenges.create({
      challengeId: 'c'.repeat(32),
      cardRef,
      challenge: 'd'.repeat(32),
      source: 'client:k',
      issuedAt: at,
      expiresAt: '2026-12-03T10:05:00.000Z',
    });
    expect(await challenges.take('c'.repeat(32), '2026-12-03T10:01:00.000Z')).not.toBeNull();
    await challenges.settle('c'.repeat(32), 'accepted');
    expect((await new PgVerifyClientRepository(v).byKeyId('k'.repeat(16)))?.name).toBe('Online banking');
    expect((await v.query('SELECT version FROM policy_versions')).length).toBe(1);
    await new PgAuditLog(v).append({
      operatorId: null,
      operator: 'verification-service',
      role: null,
      action: 'test.verify',
      outcome: 'ok',
    });
    expect((await new PgAuditLog(owner).entries()).at(-1)).toMatchObject({ action: 'test.verify' });
  });

  it('the verification role queues a refill when a list runs low (a new prepared list), nothing more', async () => {
    const v = new PgListRepository(as('otac_verify'));
    const { created, list } = await v.queue(
      {
        cardRef,
        listId: 'b'.repeat(32),
        length: 10,
        digits: 6,
        threshold: 2,
        expiresAt: '2027-12-03T00:00:00.000Z',
        trigger: 'threshold',
      },
      { operator: 'verification-service', at },
    );
    expect(created).toBe(true);
    expect(list.state).toBe('prepared');
  });

  it('the desk role does a desk’s work, triggers included (card state change, branch move)', async () => {
    const w = as('otac_workstation');
    const customers = new PgCustomerRepository(w);
    const c = await customers.insert(
      {
        customerRef: 'C-2',
        fullName: 'Grace Hopper',
        birthDate: null,
        address: { line1: '2 Way', line2: null, postalCode: '2', city: 'NY', country: 'US' },
        email: null,
        mobile: null,
        branch: 'Branch 01',
      },
      by,
    );
    const moved = await customers.update(c.id, c.version, { ...c, branch: 'Branch 02' }, by);
    expect(moved).not.toBeNull();
    const cards = new PgCardRepository(w);
    const card = await cards.insert({ cardId: '0102BB', customerId: c.id, n: 'N-ROLES-2', sealMode: 'card-key' }, by);
    expect((await cards.transition(card.id, ['enrolling'], 'awaiting_activation', at))?.state).toBe(
      'awaiting_activation',
    );
    await new PgAuditLog(w).append({
      operatorId: 1,
      operator: 'mia',
      role: 'clerk',
      action: 'test.desk',
      outcome: 'ok',
    });
    expect(
      (await w.query<{ password_hash: string }>("SELECT password_hash FROM operators WHERE username = 'mia'"))[0]
        ?.password_hash,
    ).toBe('scrypt$secret-hash');
  });

  it('the auditor reads the trail and verifies the chain, and sees operators without their password hash', async () => {
    const rows = await new PgAuditLog(as('otac_auditor')).entries();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(verifyAuditChain(arrayChainSource(rows, []), null)).toMatchObject({ ok: true });
    expect(await as('otac_auditor').query('SELECT id, username, role, disabled_at FROM operators')).toHaveLength(1);
    expect(await as('otac_auditor').query('SELECT reason, at FROM verify_rejections')).not.toHaveLength(0);
  });
});

describe('least-privilege roles: attacks are refused with nothing changed', () => {
  it('the verification role can neither rewrite nor delete the audit trail, nor read it', async () => {
    const before = await snapshot('audit_log');
    const v = as('otac_verify');
    await refused(v.query("UPDATE audit_log SET outcome = 'denied'"));
    await refused(v.query('DELETE FROM audit_log'));
    await refused(v.query('TRUNCATE audit_log'));
    await refused(v.query('SELECT * FROM audit_log'));
    await refused(v.query('ALTER TABLE audit_log DISABLE TRIGGER ALL'), /must be owner/);
    await refused(v.query('DELETE FROM audit_checkpoints'));
    expect(await snapshot('audit_log')).toBe(before);
  });

  it('neither the desk’s nor the verification role can move the audit chain head but by appending, nor lift its guards', async () => {
    const before = [await snapshot('audit_head'), await snapshot('audit_log')];
    for (const role of ['otac_workstation', 'otac_verify'] as const) {
      const r = as(role);
      for (const attack of [
        'UPDATE audit_head SET seq = seq - 1',
        'UPDATE audit_head SET seq = seq + 1',
        "UPDATE audit_head SET hash = repeat('f', 64)",
        "UPDATE audit_head SET seq = 0, hash = repeat('0', 64)",
      ])
        await refused(r.query(attack), /moves only by appending/);
      await refused(r.query('ALTER TABLE audit_head DISABLE TRIGGER ALL'), /must be owner/);
      await refused(r.query('DROP TRIGGER audit_head_moves_by_append ON audit_head'), /must be owner/);
      await refused(r.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_continues_chain'), /must be owner/);
      await refused(r.query('DROP FUNCTION otac_audit_head_moves_by_append() CASCADE'), /must be owner/);
      await refused(r.query('DELETE FROM audit_head'));
    }
    expect([await snapshot('audit_head'), await snapshot('audit_log')]).toEqual(before);
  });

  it('the verification role cannot read password hashes, nor any operator', async () => {
    const v = as('otac_verify');
    await refused(v.query('SELECT password_hash FROM operators'));
    await refused(v.query('SELECT id, username FROM operators'));
    await refused(v.query("UPDATE operators SET role = 'security_officer'"));
  });

  it('the verification role cannot change policies, nor a card, a list’s state, a use mark or a client', async () => {
    const tables = ['policy_versions', 'cards', 'code_lists', 'code_uses', 'verify_clients', 'customers'];
    const before = await Promise.all(tables.map(snapshot));
    const v = as('otac_verify');
    await refused(
      v.query(
        `INSERT INTO policy_versions (version, policies, changed_at, changed_by_id, changed_by) VALUES (2, '{"lockout":0}', ?, 1, 'x')`,
        [at],
      ),
    );
    await refused(v.query("UPDATE policy_versions SET policies = '{}'"));
    await refused(v.query('DELETE FROM policy_versions'));
    await refused(v.query("UPDATE cards SET state = 'active'"));
    // Only the use counters of a list: its state (reviving a disabled list, re-sealing) stays the desk's.
    await refused(v.query("UPDATE code_lists SET state = 'active'"));
    await refused(v.query('UPDATE code_lists SET body_hash = NULL'));
    await refused(v.query('DELETE FROM code_uses'));
    await refused(v.query('UPDATE code_uses SET code_index = code_index + 100'));
    await refused(v.query('UPDATE verify_clients SET revoked_at = NULL'));
    await refused(
      v.query(
        `INSERT INTO verify_clients (key_id, key_hash, name, scopes, created_at, created_by) VALUES ('${'z'.repeat(16)}', '${'0'.repeat(64)}', 'x', 'verify', 'now', 'x')`,
      ),
    );
    await refused(v.query('SELECT * FROM customers'));
    expect(await Promise.all(tables.map(snapshot))).toEqual(before);
  });

  it('the auditor can write nothing anywhere, and reads no hash of a secret', async () => {
    const a = as('otac_auditor');
    const tables = (
      await server.admin<{ t: string }>(
        database,
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
      )
    ).map((r) => r.t);
    expect(tables.length).toBeGreaterThan(20);
    const before = await Promise.all(tables.map(snapshot));
    for (const t of tables) {
      await refused(a.query(`INSERT INTO ${t} DEFAULT VALUES`));
      await refused(a.query(`DELETE FROM ${t}`));
      await refused(a.query(`TRUNCATE ${t}`));
      const [col] = await server.admin<{ c: string }>(
        database,
        'SELECT column_name AS c FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position LIMIT 1',
        [t],
      );
      await refused(a.query(`UPDATE ${t} SET ${col!.c} = ${col!.c}`));
    }
    await refused(a.query('SELECT password_hash FROM operators'));
    await refused(a.query('SELECT * FROM operators'));
    await refused(a.query('SELECT key_hash FROM verify_clients'));
    await refused(a.query('SELECT passkey_tag FROM support_cases'));
    await refused(a.query('CREATE TABLE stash (x text)'));
    expect(await Promise.all(tables.map(snapshot))).toEqual(before);
  });

  it('the desk role cannot delete or rewrite audit rows, policies or use marks: the grant refuses before any trigger', async () => {
    const tables = ['audit_log', 'audit_checkpoints', 'policy_versions', 'code_uses'];
    const before = await Promise.all(tables.map(snapshot));
    const w = as('otac_workstation');
    await refused(w.query('DELETE FROM audit_log'), /permission denied for table audit_log/);
    await refused(w.query("UPDATE audit_log SET details = '{}'"), /permission denied for table audit_log/);
    await refused(w.query('TRUNCATE audit_log'));
    await refused(w.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_delete'), /must be owner/);
    await refused(w.query('DROP TABLE audit_log'), /must be owner/);
    await refused(w.query('DELETE FROM policy_versions'));
    await refused(w.query('DELETE FROM code_uses'));
    await refused(w.query('DELETE FROM audit_checkpoints'));
    // Concurrently, over several connections: all refused, none slips through.
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => w.query('DELETE FROM audit_log WHERE seq = 1')),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(await Promise.all(tables.map(snapshot))).toEqual(before);
  });

  it('no role but the owner holds UPDATE, DELETE or TRUNCATE on an append-only table (catalogue check)', async () => {
    for (const role of GROUP_ROLES)
      for (const table of APPEND_ONLY_TABLES)
        for (const privilege of ['UPDATE', 'DELETE', 'TRUNCATE']) {
          const [row] = await server.admin<{ has: boolean }>(
            database,
            'SELECT has_table_privilege($1, $2, $3) AS has',
            [role, table, privilege],
          );
          expect({ role, table, privilege, has: row?.has }).toEqual({ role, table, privilege, has: false });
        }
  });

  it('every table of the schema has its grants decided: a new table fails here until roles.ts names it', async () => {
    const tables = (
      await server.admin<{ t: string }>(
        database,
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
      )
    ).map((r) => r.t);
    // The desk touches every table; the other groups get a subset, each name of which exists.
    expect(Object.keys(ROLE_GRANTS.otac_workstation).sort()).toEqual(tables);
    for (const role of GROUP_ROLES) for (const t of Object.keys(ROLE_GRANTS[role])) expect(tables).toContain(t);
  });

  it('running it again keeps the grants (an upgrade re-applies them) and PUBLIC has nothing', async () => {
    await applyRoles(owner);
    const [pub] = await server.admin<{ n: string }>(
      database,
      "SELECT count(*) AS n FROM information_schema.role_table_grants WHERE grantee = 'PUBLIC' AND table_schema = 'public'",
    );
    expect(Number(pub?.n)).toBe(0);
    expect((await new PgCardRepository(as('otac_verify')).byN(cardN))?.id).toBe(cardRef);
    await refused(as('otac_verify').query('SELECT password_hash FROM operators'));
  });

  it('refuses a login named like a group or with a short password', async () => {
    await expect(createLoginRole(owner, 'otac_verify', 'otac_verify', PASSWORD.otac_verify)).rejects.toMatchObject({
      code: 'DB_ROLE_NAME',
    });
    await expect(createLoginRole(owner, 'desk_02', 'otac_workstation', 'short')).rejects.toMatchObject({
      code: 'DB_ROLE_PASSWORD',
    });
    const [n] = await server.admin<{ n: string }>(
      database,
      "SELECT count(*) AS n FROM pg_roles WHERE rolname = 'desk_02'",
    );
    expect(Number(n?.n)).toBe(0);
  });
});

describe('npm run db:roles', () => {
  it('migrates a fresh database, applies the grants and makes logins with passwords from standard input', async () => {
    const fresh = await server.createDatabase('cli');
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/db-roles.ts',
        server.url(fresh),
        '--login',
        'desk_cli:workstation',
        '--login',
        'verify_cli:verify',
      ],
      { input: 'desk-cli-password-0123456\nverify-cli-password-012345\n', encoding: 'utf8' },
    );
    expect(out).toMatch(/grants applied/);
    expect(out).not.toContain('password-0');
    const verify = new PgDatabase({
      url: `postgres://verify_cli:verify-cli-password-012345@127.0.0.1:${server.port}/${fresh}`,
    });
    try {
      expect(await verify.query('SELECT count(*) AS n FROM cards')).toEqual([{ n: 0 }]);
      await refused(verify.query('SELECT password_hash FROM operators'));
    } finally {
      await verify.close();
    }
  });
});

describe('a server without TLS', () => {
  it('is refused when the settings ask for TLS: the password is not sent in clear', async () => {
    const settings = pgSettingsFromEnv({
      OTAC_DATABASE_URL: `postgres://${LOGIN.otac_verify}:${PASSWORD.otac_verify}@127.0.0.1:${server.port}/${database}?sslmode=require`,
    });
    const db = new PgDatabase(settings!);
    try {
      const err: unknown = await db.query('SELECT 1').then(
        () => new Error('expected a refusal, but it connected'),
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'DB_TLS_UNAVAILABLE' });
      expect((err as Error).message).toMatch(/enable ssl/);
      expect((err as Error).message).not.toContain(PASSWORD.otac_verify);
    } finally {
      await db.close();
    }
  });
});

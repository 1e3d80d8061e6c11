import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditCliAsync } from '../../../src/core/audit/audit-cli';
import { AuditCheckpointService } from '../../../src/core/audit/audit-checkpoint.service';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import type { AuditFilter } from '../../../src/core/audit/audit-query';
import { SoftwareAuditSigner, type AuditSigner } from '../../../src/core/audit/audit-signer';
import { SqliteAuditStore, type AuditStore, type NewCheckpoint } from '../../../src/core/audit/audit-store';
import { PgAuditStore } from '../../../src/core/audit/audit-store.pg';
import {
  AuditService,
  type AuditEntryInput,
  type AuditRow,
  type AuditTrail,
} from '../../../src/core/audit/audit.service';
import {
  arrayChainSource,
  checkpointMessage,
  verifyAuditChain,
  verifyAuditChainAsync,
  type CheckpointRow,
} from '../../../src/core/audit/audit-verify';
import { auditHandlers } from '../../../src/core/audit/audit.ipc';
import { openDatabase, type Database } from '../../../src/core/db/database';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { applyRoles, createLoginRole } from '../../../src/core/db/pg/roles';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { migrations } from '../../../src/core/db/migrations';
import type { Logger } from '../../../src/core/log';
import type { AuthedContext } from '../../../src/core/rpc/router';
import { SqliteSystemStore, type SystemStore } from '../../../src/core/system/system.store';
import { PgSystemStore } from '../../../src/core/system/system.store.pg';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 items 1–2 for the audit trail's read side: the Audit page's filters, verification
// (tampering found), export and signed checkpoints answer the same on the desk's SQLite file and
// on the branch network's PostgreSQL, and two desks signing the same head at once record one
// checkpoint for it. The dashboard's figures read the same on both engines too.

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const signer = SoftwareAuditSigner.generate();
const trust = () => ({
  source: 'public-key' as const,
  keys: new Map([[signer.keyId(), signer.publicKeyPem()]]),
  anchor: null,
});

/** The same instants on both engines: each engine's clock steps one minute per entry from the same start. */
function steppingClock(): () => Date {
  let t = Date.parse('2026-03-01T22:00:00.000Z');
  return () => new Date((t += 60_000));
}

interface Engine {
  readonly name: 'sqlite' | 'postgres';
  readonly store: AuditStore;
  readonly system: SystemStore;
  readonly trail: AuditTrail;
  append(entry: AuditEntryInput): Promise<void>;
  /** Superuser/owner SQL behind the code's back (triggers dropped or disabled), as an attacker with the database. */
  tamper(sql: string): Promise<void>;
  rows(): Promise<AuditRow[]>;
  checkpointRows(): Promise<CheckpointRow[]>;
}

const FIXTURE: AuditEntryInput[] = [
  { operatorId: 1, operator: 'mia', role: 'clerk', action: 'auth.signIn', outcome: 'ok' },
  { operatorId: 1, operator: 'Mia', role: 'clerk', action: 'auth.signIn', outcome: 'denied', details: { why: 'x' } },
  { operatorId: 2, operator: 'ben', role: 'manager', action: 'customer.create', object: 'customer:7', outcome: 'ok' },
  { operatorId: 2, operator: 'ben', role: 'manager', action: 'a_b.test', outcome: 'ok' },
  { operatorId: 2, operator: 'ben', role: 'manager', action: 'axb.test', outcome: 'failed' },
  {
    operatorId: null,
    operator: null,
    role: null,
    action: 'system.start',
    outcome: 'ok',
    details: { note: '100% done' },
  },
  { operatorId: 3, operator: 'ZOE', role: 'auditor', action: 'audit.verify', outcome: 'ok', details: { note: 'Fine' } },
];

describe('the audit read side and checkpoints on SQLite and PostgreSQL', () => {
  let server: TestPostgres;
  let dbName: string;
  let pools: PgDatabase[];
  let sqlite: Database;
  let tmp: string;
  let engines: Engine[];

  beforeAll(async () => {
    server = await startPostgres();
    dbName = await server.createDatabase();
    pools = [0, 1].map(() => new PgDatabase({ url: server.url(dbName), maxConnections: 8 }));
    await migratePg(pools[0]!);
    tmp = mkdtempSync(join(tmpdir(), 'otac-audit-read-'));
    sqlite = openDatabase(join(tmp, 'workstation.db'));
    const sqliteAudit = new AuditService(sqlite, steppingClock());
    const pgTrail = new PgAuditTrail(new PgAuditLog(pools[0]!, steppingClock()));
    engines = [
      {
        name: 'sqlite',
        store: new SqliteAuditStore(sqlite),
        system: new SqliteSystemStore(sqlite),
        trail: sqliteAudit,
        append: (e) => sqliteAudit.append(e),
        tamper: async (sql) =>
          void sqlite.exec(
            `DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; ${sql}`,
          ),
        rows: async () => sqlite.prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[],
        checkpointRows: async () =>
          sqlite.prepare('SELECT * FROM audit_checkpoints ORDER BY id').all() as CheckpointRow[],
      },
      {
        name: 'postgres',
        store: new PgAuditStore(pools[0]!),
        system: new PgSystemStore(pools[0]!),
        trail: pgTrail,
        append: (e) => pgTrail.append(e),
        tamper: async (sql) =>
          void (await server.admin(
            dbName,
            `ALTER TABLE audit_log DISABLE TRIGGER USER; ${sql}; ALTER TABLE audit_log ENABLE TRIGGER USER`,
          )),
        rows: () => pools[0]!.query<AuditRow & Record<string, unknown>>('SELECT * FROM audit_log ORDER BY seq'),
        checkpointRows: () =>
          pools[0]!.query<CheckpointRow & Record<string, unknown>>('SELECT * FROM audit_checkpoints ORDER BY id'),
      },
    ];
    for (const engine of engines) for (const e of FIXTURE) await engine.append(e);
  });
  afterAll(async () => {
    await Promise.all((pools ?? []).map((p) => p.close()));
    sqlite?.close();
    server?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const page = (f: Partial<AuditFilter>): AuditFilter => ({ page: 1, pageSize: 50, ...f });
  /** The seqs a filter finds, checked equal on both engines. */
  const seqs = async (f: Partial<AuditFilter>) => {
    const [a, b] = await Promise.all(engines.map((e) => e.store.query(page(f))));
    expect(b).toEqual(a);
    return a!.entries.map((e) => e.seq);
  };

  it('answers every filter of the Audit page alike on both engines', async () => {
    expect(await seqs({})).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(await seqs({ operator: 'MIA' })).toEqual([2, 1]); // case ignored on both
    expect(await seqs({ actionPrefix: 'AUTH.' })).toEqual([2, 1]);
    expect(await seqs({ actionPrefix: 'a_b' })).toEqual([4]); // _ is literal, not any character
    expect(await seqs({ outcome: 'denied' })).toEqual([2]);
    expect(await seqs({ text: '100%' })).toEqual([6]); // % is literal
    expect(await seqs({ text: 'fine' })).toEqual([7]);
    expect(await seqs({ text: 'customer:7' })).toEqual([3]);
    // 22:01 … 22:07 on 1 March: entries #1, #2 … the clock crosses no day; #1 at 22:01.
    expect(await seqs({ from: '2026-03-01', to: '2026-03-01' })).toHaveLength(7);
    expect(await seqs({ from: '2026-03-02' })).toEqual([]);
    expect(await seqs({ to: '2026-02-28' })).toEqual([]);
    expect(await seqs({ operator: 'ben', outcome: 'ok' })).toEqual([4, 3]);
    const [a, b] = await Promise.all(engines.map((e) => e.store.query({ page: 2, pageSize: 3 })));
    expect(b).toEqual(a);
    expect(a).toMatchObject({ total: 7, page: 2, pageSize: 3 });
    expect(a!.entries.map((e) => e.seq)).toEqual([4, 3, 2]);
  });

  it('reads the dashboard figures alike on both engines', async () => {
    const [sq, pg] = await Promise.all(engines.map((e) => e.system.auditFigures('2026-03-01', 3)));
    expect(pg).toEqual(sq);
    expect(sq).toMatchObject({ entriesToday: 7, failedSignInsToday: 1 });
    expect(sq!.recent.map((r) => r.seq)).toEqual([7, 6, 5]);
    const versions = await Promise.all(engines.map((e) => e.system.schemaVersion()));
    expect(versions).toEqual([migrations.length, migrations.length]);
    const figures = await Promise.all(engines.map((e) => e.system.operatorFigures(Date.now())));
    expect(figures).toEqual([
      { operators: 0, lockedOperators: 0 },
      { operators: 0, lockedOperators: 0 },
    ]);
  });

  it('verifies a chain longer than a page, signs, exports, and finds a tampered row on both engines', async () => {
    for (const engine of engines) {
      // 2 500 more entries: the verifier walks three pages.
      for (let i = 0; i < 2500; i++) await engine.append({ ...FIXTURE[0]!, action: 'bulk.entry', details: { i } });
      const checkpoints = new AuditCheckpointService(
        engine.store,
        engine.trail,
        async () => signer,
        () => 1000,
        quiet,
      );
      const handlers = auditHandlers({
        store: engine.store,
        audit: engine.trail,
        checkpoints,
        trust: async () => trust(),
      });
      const ctx: AuthedContext = {
        clientId: 'test',
        session: {
          operatorId: 3,
          username: 'zoe',
          displayName: 'Zoe',
          role: 'auditor',
          mustChangePassword: false,
          lastActivity: 0,
        },
      };
      const cp = await handlers['audit:checkpoint']({}, ctx);
      expect(cp.seq, engine.name).toBe(2507);
      expect(await handlers['audit:verify']({}, ctx), engine.name).toMatchObject({
        ok: true,
        entries: 2508, // the checkpoint's own audit entry
        checkpoints: 1,
        lastSignedSeq: 2507,
        unsignedTail: 1,
      });

      const { files } = await handlers['audit:export']({ format: 'json' }, ctx);
      const doc = JSON.parse(files[0]!.content) as { entries: AuditRow[]; checkpoints: CheckpointRow[] };
      expect(
        doc.entries.map((e) => e.seq),
        engine.name,
      ).toEqual(Array.from({ length: 2509 }, (_, i) => i + 1));
      expect(doc.entries).toEqual((await engine.rows()).slice(0, 2509));
      expect(verifyAuditChain(arrayChainSource(doc.entries, doc.checkpoints), trust())).toMatchObject({
        ok: true,
        entries: 2509,
      });

      // An attacker with the database rewrites #1500 (second page): named by seq and reason.
      const original = (await engine.rows())[1499]!;
      await engine.tamper(`UPDATE audit_log SET details = '{"i":-1}' WHERE seq = 1500`);
      const broken = await handlers['audit:verify']({}, ctx);
      expect(broken.ok, engine.name).toBe(false);
      expect(broken.firstProblem, engine.name).toMatchObject({ seq: 1500, reason: 'altered' });
      await engine.tamper(`UPDATE audit_log SET details = '${original.details}' WHERE seq = 1500`);
      // Two entries swapped further on: the lookup made after the walk names it reordered.
      const swap =
        'UPDATE audit_log SET seq = -1 WHERE seq = 2001; UPDATE audit_log SET seq = 2001 WHERE seq = 2002; UPDATE audit_log SET seq = 2002 WHERE seq = -1';
      await engine.tamper(swap);
      expect((await handlers['audit:verify']({}, ctx)).firstProblem, engine.name).toMatchObject({
        seq: 2001,
        reason: 'reordered',
      });
      await engine.tamper(swap);
      expect((await handlers['audit:verify']({}, ctx)).ok, engine.name).toBe(true);
    }
  }, 240_000);

  const signedCheckpoint = async (head: { seq: number; hash: string }, i: number): Promise<NewCheckpoint> => {
    const signedAt = `2026-03-02T00:00:${String(i).padStart(2, '0')}.000Z`;
    const message = checkpointMessage({ seq: head.seq, hash: head.hash, key_id: signer.keyId(), signed_at: signedAt });
    return {
      seq: head.seq,
      hash: head.hash,
      signature: (await signer.sign(message)).toString('base64'),
      keyId: signer.keyId(),
      publicKeyPem: signer.publicKeyPem(),
      signedAt,
    };
  };

  it('records at most one checkpoint per seq, and none for an entry not in the chain, on both engines', async () => {
    for (const engine of engines) {
      const head = (await engine.store.head())!;
      const before = (await engine.checkpointRows()).length;
      const stores = engine.name === 'postgres' ? pools.map((p) => new PgAuditStore(p)) : [engine.store];
      const results = await Promise.all(
        Array.from({ length: 12 }, async (_, i) =>
          stores[i % stores.length]!.insertCheckpoint(await signedCheckpoint(head, i)),
        ),
      );
      expect(
        results.filter((r) => r.created),
        engine.name,
      ).toHaveLength(1);
      expect(new Set(results.map((r) => r.checkpoint.id)).size, engine.name).toBe(1);
      expect(results.every((r) => r.checkpoint.seq === head.seq && r.checkpoint.hash === head.hash)).toBe(true);
      expect(await engine.checkpointRows(), engine.name).toHaveLength(before + 1);
      expect(await engine.store.keys()).toEqual([{ keyId: signer.keyId(), publicKeyPem: signer.publicKeyPem() }]);

      // A (seq, hash) the chain does not hold is refused, with nothing written.
      const stranger = await signedCheckpoint({ seq: head.seq - 1, hash: head.hash }, 20);
      await expect(engine.store.insertCheckpoint(stranger)).rejects.toMatchObject({ code: 'AUDIT_CHECKPOINT_REFUSED' });
      const beyond = await signedCheckpoint({ seq: head.seq + 50, hash: head.hash }, 21);
      await expect(engine.store.insertCheckpoint(beyond)).rejects.toMatchObject({ code: 'AUDIT_CHECKPOINT_REFUSED' });
      expect(await engine.checkpointRows(), engine.name).toHaveLength(before + 1);
      expect(await verifyAuditChainAsync(engine.store.chainSource(), trust()), engine.name).toMatchObject({ ok: true });
    }
  });

  it('two desks on one PostgreSQL signing the same head at once record one checkpoint, signed and in the chain', async () => {
    const trails = pools.map((p) => new PgAuditTrail(new PgAuditLog(p)));
    const stores = pools.map((p) => new PgAuditStore(p));
    // Both desks hold their signature until the other has one too: both then record at the same moment.
    let waiting: (() => void)[] = [];
    const together: AuditSigner = {
      keyId: () => signer.keyId(),
      publicKeyPem: () => signer.publicKeyPem(),
      verify: (d, sig) => signer.verify(d, sig),
      sign: async (d) => {
        await new Promise<void>((release) => {
          waiting.push(release);
          if (waiting.length === 2) {
            for (const r of waiting) r();
            waiting = [];
          }
        });
        return signer.sign(d);
      },
    };
    const desks = stores.map(
      (store, i) =>
        new AuditCheckpointService(
          store,
          trails[i]!,
          async () => together,
          () => 1e9,
          quiet,
        ),
    );
    for (let round = 0; round < 8; round++) {
      await Promise.all(
        trails.map((t, i) => t.append({ ...FIXTURE[2]!, action: 'desk.entry', details: { round, i } })),
      );
      const [a, b] = await Promise.all(desks.map((d) => d.checkpointNow()));
      expect(b).toEqual(a);
      const head = await stores[0]!.head();
      expect(a!.seq).toBe(head!.seq);
      expect(a!.hash).toBe(head!.hash);
    }
    const duplicates = await pools[0]!.query('SELECT seq FROM audit_checkpoints GROUP BY seq HAVING count(*) > 1');
    expect(duplicates).toEqual([]);

    // Every-N scheduling on both desks while both append at once: still one checkpoint per seq.
    const scheduled = stores.map(
      (store, i) =>
        new AuditCheckpointService(
          store,
          trails[i]!,
          async () => signer,
          () => 5,
          quiet,
        ),
    );
    const stops = scheduled.map((d) => d.start());
    await Promise.all(
      Array.from({ length: 60 }, (_, n) =>
        trails[n % 2]!.append({ ...FIXTURE[0]!, action: 'desk.busy', details: { n } }),
      ),
    );
    await Promise.all(scheduled.map((d) => d.idle()));
    for (const stop of stops) stop();
    const cps = await stores[1]!.checkpoints();
    expect(new Set(cps.map((c) => c.seq)).size).toBe(cps.length);
    expect(cps.length).toBeGreaterThan(9);
    expect(await pools[1]!.query('SELECT seq FROM audit_checkpoints GROUP BY seq HAVING count(*) > 1')).toEqual([]);
    expect(await verifyAuditChainAsync(stores[1]!.chainSource(), trust())).toMatchObject({
      ok: true,
      firstProblem: null,
    });
  }, 120_000);

  it("the CLI verifies the server with --database against the auditor's key, and names a rewritten entry", async () => {
    const keyFile = join(tmp, 'audit-key.pem');
    writeFileSync(keyFile, signer.publicKeyPem());
    const env = { OTAC_DATABASE_URL: server.url(dbName) };
    const run = async (e: Record<string, string>) => {
      const lines: string[] = [];
      const code = await runAuditCliAsync(['verify', '--database', '--public-key', keyFile], (l) => lines.push(l), e);
      return { code, out: lines.join('\n') };
    };
    const intact = await run(env);
    expect(intact.out).toContain('Audit log intact.');
    expect(intact.code).toBe(0);
    expect((await run({})).code).toBe(2);
    const pg = engines[1]!;
    await pg.tamper(`UPDATE audit_log SET operator = 'eve' WHERE seq = 3`);
    const broken = await run(env);
    expect(broken.code).toBe(1);
    expect(broken.out).toContain('BROKEN at #3 (altered)');
  });

  it('a desk login records checkpoints and reads the dashboard; the auditor login verifies with the CLI and can sign nothing', async () => {
    await applyRoles(pools[0]!);
    await createLoginRole(pools[0]!, 'desk_audit', 'otac_workstation', 'desk-password-0123456789');
    await createLoginRole(pools[0]!, 'auditor_audit', 'otac_auditor', 'auditor-password-0123456789');
    const as = (login: string, password: string) => {
      const u = new URL(server.url(dbName));
      u.username = login;
      u.password = password;
      return u.toString();
    };
    const desk = new PgDatabase({ url: as('desk_audit', 'desk-password-0123456789'), maxConnections: 2 });
    const auditor = new PgDatabase({ url: as('auditor_audit', 'auditor-password-0123456789'), maxConnections: 2 });
    try {
      const deskStore = new PgAuditStore(desk);
      await new PgAuditTrail(new PgAuditLog(desk)).append({ ...FIXTURE[0]!, action: 'desk.roles' });
      const head = (await deskStore.head())!;
      expect((await deskStore.insertCheckpoint(await signedCheckpoint(head, 30))).created).toBe(true);
      expect((await deskStore.query({ page: 1, pageSize: 1 })).entries[0]?.action).toBe('desk.roles');
      expect(await new PgSystemStore(desk).operatorFigures(Date.now())).toEqual({ operators: 0, lockedOperators: 0 });

      const auditorStore = new PgAuditStore(auditor);
      expect((await auditorStore.query({ page: 1, pageSize: 1, actionPrefix: 'desk.roles' })).total).toBe(1);
      const before = (await engines[1]!.checkpointRows()).length;
      const cp = await signedCheckpoint((await auditorStore.head())!, 31);
      await expect(auditorStore.insertCheckpoint(cp)).rejects.toMatchObject({ code: '42501' });
      expect(await engines[1]!.checkpointRows()).toHaveLength(before);
      // The read-only role is enough for the CLI (the entry rewritten by the test above is still found).
      const keyFile = join(tmp, 'audit-key-roles.pem');
      writeFileSync(keyFile, signer.publicKeyPem());
      const lines: string[] = [];
      const env = { OTAC_DATABASE_URL: as('auditor_audit', 'auditor-password-0123456789') };
      expect(await runAuditCliAsync(['verify', '--database', '--public-key', keyFile], (l) => lines.push(l), env)).toBe(
        1,
      );
      expect(lines.join('\n')).toContain('BROKEN at #3 (altered)');
    } finally {
      await Promise.all([desk.close(), auditor.close()]);
    }
  });
});

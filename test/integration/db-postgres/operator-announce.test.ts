import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEntry } from '../../support/operators';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import type { AuditRow } from '../../../src/core/audit/audit.service';
import type { OperatorRow } from '../../../src/core/auth/operator.repository';
import { PgOperatorRepository } from '../../../src/core/auth/operator.repository.pg';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase, type Isolation, type PgQueryable } from '../../../src/core/db/pg/pg-database';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Operator changes on PostgreSQL run again whole after a serialisation failure
// (PgDatabase.transaction); the audit trail's listeners must hear the entries of the attempt that
// committed, once, after COMMIT — never those of an attempt rolled back, at the desk that ran it.

/** A pool that counts the attempts its transactions make (each run of `work` is one). */
class CountingDatabase extends PgDatabase {
  attempts = 0;
  override transaction<T>(work: (tx: PgQueryable) => Promise<T>, isolation?: Isolation): Promise<T> {
    return super.transaction((tx) => {
      this.attempts++;
      return work(tx);
    }, isolation);
  }
}

interface Desk {
  readonly db: CountingDatabase;
  readonly operators: PgOperatorRepository;
  /** What this desk's listeners heard, with whether another connection saw the entry by then. */
  readonly heard: { row: AuditRow; visible: Promise<boolean> }[];
}

const entry = auditEntry;

describe('operator changes run again on PostgreSQL are announced once', () => {
  let server: TestPostgres;
  let url: string;
  let lookup: PgDatabase;
  let desks: [Desk, Desk];
  let serial = 0;

  beforeAll(async () => {
    server = await startPostgres();
    url = server.url(await server.createDatabase());
    lookup = new PgDatabase({ url });
    await migratePg(lookup);
    // The server refuses chosen entries: 'test.refused' always (an error no attempt survives), and a
    // lockout's or a reset's entry with a serialisation failure once after each `failOnce()` (a
    // sequence: what the rolled back attempt took from it stays taken).
    await lookup.query('CREATE SEQUENCE test_fail_once');
    await lookup.query("SELECT setval('test_fail_once', 1)");
    await lookup.query(`CREATE FUNCTION test_refuse_entry() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.action = 'test.refused' THEN RAISE EXCEPTION 'entry refused'; END IF;
        IF NEW.action IN ('auth.lockout', 'admin.resetPassword') AND nextval('test_fail_once') = 1 THEN
          RAISE EXCEPTION 'provoked conflict' USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN NEW;
      END $$`);
    await lookup.query(`CREATE TRIGGER test_refuse_entry BEFORE INSERT ON audit_log
      FOR EACH ROW EXECUTE FUNCTION test_refuse_entry()`);
    const desk = (): Desk => {
      const db = new CountingDatabase({ url, maxConnections: 5 });
      const audit = new PgAuditTrail(new PgAuditLog(db));
      const heard: Desk['heard'] = [];
      // Seen from another connection at the moment it is heard: only a committed entry is.
      audit.onAppend((row) =>
        heard.push({ row, visible: entries().then((rows) => rows.some((r) => r.hash === row.hash)) }),
      );
      return { db, operators: new PgOperatorRepository(db, audit), heard };
    };
    desks = [desk(), desk()];
  });
  afterAll(async () => {
    await Promise.all([lookup, ...(desks ?? []).map((d) => d.db)].map((db) => db?.close()));
    server?.stop();
  });

  const entries = () => lookup.query<AuditRow & Record<string, unknown>>('SELECT * FROM audit_log ORDER BY seq');
  const clerk = (): Promise<OperatorRow> =>
    desks[0].operators.create(
      {
        username: `clerk${++serial}`,
        displayName: 'Clerk',
        role: 'clerk',
        passwordHash: `hash-${serial}`,
        mustChange: false,
      },
      () => [],
    );
  /** Runs `write` and answers what each desk heard meanwhile and the entries that committed. */
  async function during(write: () => Promise<unknown>) {
    const before = (await entries()).length;
    for (const d of desks) {
      d.heard.length = 0;
      d.db.attempts = 0;
    }
    await write();
    const heard = await Promise.all(
      desks.map(async (d) => ({
        rows: d.heard.map((h) => h.row),
        visible: await Promise.all(d.heard.map((h) => h.visible)),
        attempts: d.db.attempts,
      })),
    );
    return { heard, committed: (await entries()).slice(before) };
  }

  it('two desks changing one operator at once: both run again, and each entry is heard once where it committed, after COMMIT', async () => {
    const op = await clerk();
    // A third session holds the row: both desks' transactions take their snapshot and wait for it.
    // Once it commits a change to the row, both fail to serialise and run again (and, as a rule,
    // the one that then waits for the other fails once more).
    const { heard, committed } = await during(async () => {
      await lookup
        .transaction(async (tx) => {
          await tx.query('SELECT id FROM operators WHERE id = ? FOR UPDATE', [op.id]);
          const changes = desks.map((d, i) =>
            d.operators.change(op.id, () => ({
              fields: { role: i === 0 ? 'support' : 'clerk' },
              entries: [entry(`test.desk${i}.role`), entry(`test.desk${i}.sessions`)],
            })),
          );
          await waitForLockWaiters(2);
          await tx.query('UPDATE operators SET updated_at = updated_at WHERE id = ?', [op.id]);
          return changes;
        }, 'read committed')
        .then((changes) => Promise.all(changes));
    });
    expect(heard.map((h) => h.attempts >= 2)).toEqual([true, true]); // both ran again (measured: 2 and 3)
    expect(committed).toHaveLength(4);
    for (const [i, h] of heard.entries()) {
      expect(h.rows).toEqual(committed.filter((r) => r.action.startsWith(`test.desk${i}.`)));
      expect(h.visible).toEqual([true, true]);
    }
  });

  it('an attempt that appended an entry and then failed to serialise: only the next attempt’s entries are heard', async () => {
    const op = await clerk();
    const failOnce = () => lookup.query("SELECT setval('test_fail_once', 1, false)");
    await failOnce();
    const lockout = await during(() =>
      desks[0].operators.countFailure(op.id, { now: Date.now(), maxAttempts: 1, baseMs: 60_000, maxMs: 60_000 }, () => [
        entry('auth.signIn', 'failed'),
        entry('auth.lockout'),
      ]),
    );
    expect(lockout.heard[0]!.attempts).toBe(2);
    expect(lockout.committed.map((r) => r.action)).toEqual(['auth.signIn', 'auth.lockout']);
    expect(lockout.heard.map((h) => h.rows)).toEqual([lockout.committed, []]);

    await failOnce();
    const reset = await during(() =>
      desks[1].operators.change(op.id, () => ({
        fields: { password_hash: 'reset', locked_at: null, locked_until: null },
        entries: [entry('auth.sessionEnded'), entry('admin.resetPassword')],
      })),
    );
    expect(reset.heard[1]!.attempts).toBe(2);
    expect(reset.committed.map((r) => r.action)).toEqual(['auth.sessionEnded', 'admin.resetPassword']);
    expect(reset.heard.map((h) => h.rows)).toEqual([[], reset.committed]);
  });

  it('a change rolled back after it appended an entry is heard nowhere', async () => {
    const op = await clerk();
    const { heard, committed } = await during(() =>
      desks[0].operators
        .change(op.id, () => ({
          fields: { role: 'support' },
          // The server refuses the second entry: the change and the first entry roll back.
          entries: [entry('admin.updateRole'), entry('test.refused')],
        }))
        .catch((err: unknown) => expect(String(err)).toMatch(/entry refused/)),
    );
    expect(committed).toEqual([]);
    expect(heard.map((h) => h.rows)).toEqual([[], []]);
    expect((await desks[1].operators.byId(op.id))?.role).toBe('clerk');
  });

  /** Until `n` sessions of this database wait for a lock (the desks' transactions, on the held row). */
  async function waitForLockWaiters(n: number): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const [row] = await lookup.query<{ n: number }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      if (Number(row?.n) >= n) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`fewer than ${n} sessions waited for the held row`);
  }
});

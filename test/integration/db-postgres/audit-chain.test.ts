import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditLog, PgAuditTrail } from '../../../src/core/audit/audit-log.pg';
import type { AuditRow } from '../../../src/core/audit/audit.service';
import { arrayChainSource, verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 2: with several writers at once — three pools standing for two desks and a
// verification instance — the audit trail stays one verifiable hash chain, and an entry commits or
// rolls back with the change it records.

const actor = { operatorId: null, operator: 'mia', role: null } as const;

describe('the audit chain on PostgreSQL with concurrent writers', () => {
  let server: TestPostgres;
  let pools: PgDatabase[];
  let logs: PgAuditLog[];
  beforeAll(async () => {
    server = await startPostgres();
    const url = server.url(await server.createDatabase());
    pools = [0, 1, 2].map(() => new PgDatabase({ url, maxConnections: 20 }));
    await migratePg(pools[0]!);
    logs = pools.map((p) => new PgAuditLog(p));
  });
  afterAll(async () => {
    await Promise.all((pools ?? []).map((p) => p.close()));
    server?.stop();
  });

  it('180 entries appended at once over three pools form one unbroken chain in seq order', async () => {
    await Promise.all(
      Array.from({ length: 180 }, (_, i) =>
        logs[i % 3]!.append({ ...actor, action: `test.concurrent`, object: `n:${i}`, outcome: 'ok', details: { i } }),
      ),
    );
    const rows = await logs[0]!.entries();
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 180 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r.object)).size).toBe(180);
    expect(verifyAuditChain(arrayChainSource(rows, []), null)).toMatchObject({ ok: true, entries: 180 });
  });

  it('an entry rolls back with its transaction and leaves no gap; the chain goes on from the last commit', async () => {
    const before = (await logs[0]!.entries()).length;
    await expect(
      pools[1]!.transaction(async (tx) => {
        await logs[1]!.appendIn(tx, { ...actor, action: 'test.rolled_back', outcome: 'ok' });
        throw new Error('the change it recorded failed');
      }, 'read committed'),
    ).rejects.toThrow(/failed/);
    await logs[2]!.append({ ...actor, action: 'test.after', outcome: 'ok' });
    const rows = await logs[0]!.entries();
    expect(rows).toHaveLength(before + 1);
    expect(rows.map((r) => r.action)).not.toContain('test.rolled_back');
    expect(rows.at(-1)).toMatchObject({ seq: before + 1, action: 'test.after' });
    expect(verifyAuditChain(arrayChainSource(rows, []), null).ok).toBe(true);
  });

  it('the check can fail: an entry written beside the head (as a naive writer would) breaks the chain', async () => {
    const rows = await logs[0]!.entries();
    const last = rows.at(-1)!;
    // A second writer that read the same last entry and appended after it: same prev_hash, next seq.
    const forged = { ...last, seq: last.seq + 1, action: 'test.fork', prev_hash: rows.at(-2)!.hash };
    const result = verifyAuditChain(arrayChainSource([...rows, forged], []), null);
    expect(result.ok).toBe(false);
  });

  it('PgAuditTrail (what features write to) appends, chains after the other writers, and tells listeners after commit', async () => {
    const trail = new PgAuditTrail(logs[1]!);
    const seen: { row: AuditRow; committed: number }[] = [];
    const stop = trail.onAppend((row) => {
      // The listener runs once the entry is committed: another pool already reads it.
      seen.push({ row, committed: -1 });
      void logs[2]!.entries().then((rows) => (seen.find((s) => s.row.seq === row.seq)!.committed = rows.length));
    });
    const before = (await logs[0]!.entries()).length;
    await Promise.all([
      trail.append({ ...actor, action: 'test.trail', object: 'a', outcome: 'ok' }),
      logs[0]!.append({ ...actor, action: 'test.other_desk', outcome: 'ok' }),
    ]);
    stop();
    await trail.append({ ...actor, action: 'test.unheard', outcome: 'ok' });
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.map((s) => s.row.action)).toEqual(['test.trail']);
    expect(seen[0]!.committed).toBeGreaterThanOrEqual(seen[0]!.row.seq);
    const rows = await logs[0]!.entries();
    expect(rows).toHaveLength(before + 3);
    expect(verifyAuditChain(arrayChainSource(rows, []), null).ok).toBe(true);
  });
});

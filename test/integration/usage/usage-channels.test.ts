import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/core/errors';
import { csvField } from '../../../src/core/usage/usage-csv';
import { REFUSAL_REASONS } from '../../../src/core/verification/verification.service';
import { REJECTION_REASONS } from '../../../src/shared/contract/usage.contract';
import type { Role } from '../../../src/shared/roles';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, setupOfficer, value, type TestOperator } from '../../support/operators';
import { testEngine } from '../../support/test-engine';
import { seedDeskUsage } from '../../support/usage-seed';

// The usage channels and the CSV export over the real router: the review's roles read, every other
// role is refused with nothing returned and the refusal audited; bad filters are refused as values.

const CHANNELS = [
  ['usage:summary', { filter: { from: '2026-11-01', to: '2026-11-30' } }],
  ['usage:rows', { filter: { branch: 'Bern' }, by: 'customer', sort: 'used', desc: true, pageSize: 20 }],
  ['usage:suspicions', { filter: {}, openOnly: true }],
] as const;

describe('usage channels', () => {
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  const ops = {} as Record<Role, TestOperator>;
  beforeAll(async () => {
    t = await freshWorkstation();
    ops.security_officer = await setupOfficer(t.ws);
    for (const role of ['clerk', 'manager', 'auditor', 'support'] as const) ops[role] = await addOperator(t.ws, role);
    await seedDeskUsage(t.sql, { cards: 200 });
  });
  afterAll(() => t?.dispose());

  const denials = async () =>
    (await t.sql.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE action = 'access.denied'"))!.n;

  it.each(['manager', 'auditor', 'support'] as const)('a %s reads every usage channel', async (role) => {
    for (const [name, input] of CHANNELS) {
      const r = value(await t.ws.router.dispatch(ops[role].client, name, input)) as Record<string, unknown>;
      expect(r).toBeTruthy();
    }
    const summary = value(await t.ws.router.dispatch(ops[role].client, 'usage:summary', {})) as { cards: number };
    expect(summary.cards).toBe(200);
  });

  it.each(['clerk', 'security_officer'] as const)(
    'a %s is refused with nothing returned, and the refusal audited',
    async (role) => {
      for (const [name, input] of CHANNELS) {
        const before = await denials();
        const r = await t.ws.router.dispatch(ops[role].client, name, input);
        expect(r).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: expect.any(String) as unknown } });
        expect(await denials()).toBe(before + 1);
      }
    },
  );

  it('refuses a range that ends before it starts, an unknown reason and an oversized page as values', async () => {
    for (const bad of [
      { filter: { from: '2026-11-30', to: '2026-11-01' } },
      { filter: { reason: 'because' } },
      { filter: { from: '30.11.2026' } },
      { filter: { to: '2026-02-30' } },
      { pageSize: 501 },
      { sort: 'n; DROP TABLE cards' },
    ]) {
      const r = await t.ws.router.dispatch(ops.auditor.client, 'usage:rows', bad);
      expect(r).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
  });

  it('exports CSV to the review roles only, checking the filters before reading anything', async () => {
    const read = async (client: string, q: string) => {
      const file = await t.ws.usageCsv.open(client, new URLSearchParams(q));
      let text = '';
      for await (const c of file.chunks) text += c;
      return { name: file.fileName, text };
    };
    const code = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return 'none';
      } catch (err) {
        return isAppError(err) ? err.code : 'other';
      }
    };
    expect(await code(() => t.ws.usageCsv.open(ops.clerk.client, new URLSearchParams()))).toBe('FORBIDDEN');
    expect(await code(() => t.ws.usageCsv.open('nobody', new URLSearchParams()))).toBe('AUTH_REQUIRED');
    expect(await code(() => t.ws.usageCsv.open(ops.auditor.client, new URLSearchParams('from=yesterday')))).toBe(
      'VALIDATION',
    );
    expect(await code(() => t.ws.usageCsv.open(ops.auditor.client, new URLSearchParams('by=n')))).toBe('VALIDATION');
    const exportsAudited = async () =>
      (await t.sql.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE action = 'usage.export'"))!.n;
    const before = await exportsAudited();
    const { name, text } = await read(ops.auditor.client, 'branch=Zurich&by=card');
    expect(name).toMatch(/^otac-usage-by-card-\d{4}-\d{2}-\d{2}\.csv$/);
    const lines = text.trimEnd().split('\r\n');
    const zurich = (await t.sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM cards c JOIN customers cu ON cu.id = c.customer_id WHERE cu.branch = 'Zurich'",
    ))!;
    expect(lines.length).toBe(1 + zurich.n);
    expect(lines.slice(1).every((l) => l.split(',')[6] === 'Zurich')).toBe(true);
    expect(await exportsAudited()).toBe(before + 1);
  });

  it('names the same refusal reasons as core verify and the 0012 CHECK', async () => {
    // The contract cannot import core; this keeps the two lists from drifting apart.
    expect([...REJECTION_REASONS]).toEqual([...REFUSAL_REASONS]);
    // The table's definition on the run's engine: SQLite keeps its CREATE text, PostgreSQL its constraints.
    const table = (await t.sql.get<{ sql: string }>(
      testEngine === 'sqlite'
        ? "SELECT sql FROM sqlite_master WHERE name = 'verify_rejections'"
        : "SELECT string_agg(pg_get_constraintdef(oid), ' ') AS sql FROM pg_constraint WHERE conrelid = 'verify_rejections'::regclass",
    ))!;
    for (const r of REJECTION_REASONS) expect(table.sql).toContain(`'${r}'`);
  });

  it('quotes CSV fields and defuses spreadsheet formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a, "b"')).toBe('"a, ""b"""');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField(null)).toBe('');
    expect(csvField(-3)).toBe('-3');
  });
});

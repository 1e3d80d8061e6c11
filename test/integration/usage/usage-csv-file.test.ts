import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { appendFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileSaver } from '../../../src/core/usage/usage-csv';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addOperator, setupOfficer, value, type TestOperator } from '../../support/operators';
import { seedDeskUsage } from '../../support/usage-seed';

// The Electron window's export (`usage:export`): main's save dialog is injected as a FileSaver (the
// real one is src/main/save-file.ts); the rows reach the file batch by batch, a clerk gets no file,
// a cancelled dialog writes nothing, a failure part-way leaves no partial file.

describe('usage:export into a chosen file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'otac-usage-file-'));
  const target = join(dir, 'usage.csv');
  let cancel = false;
  let failAfter = Infinity;
  const writes: number[] = [];
  const saver: FileSaver = async () => {
    if (cancel) return null;
    await writeFile(target, '');
    return {
      write: async (chunk) => {
        if (writes.length >= failAfter) throw new Error('disk full');
        writes.push(chunk.length);
        await appendFile(target, chunk);
      },
      close: async () => {},
      abort: () => rm(target, { force: true }),
    };
  };
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let auditor: TestOperator;
  let clerk: TestOperator;
  beforeAll(async () => {
    t = await freshWorkstation({ saveFile: saver });
    await setupOfficer(t.ws);
    auditor = await addOperator(t.ws, 'auditor');
    clerk = await addOperator(t.ws, 'clerk');
    await seedDeskUsage(t.sql, { cards: 1100 });
  });
  afterAll(async () => {
    await t?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every row in batches to an auditor’s file, and nothing for a clerk or a cancel', async () => {
    const refused = await t.ws.router.dispatch(clerk.client, 'usage:export', {});
    expect(refused).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(existsSync(target)).toBe(false);
    cancel = true;
    expect(value(await t.ws.router.dispatch(auditor.client, 'usage:export', {}))).toEqual({
      status: 'cancelled',
      rows: 0,
    });
    expect(existsSync(target)).toBe(false);
    cancel = false;
    const saved = value(await t.ws.router.dispatch(auditor.client, 'usage:export', { filter: { branch: 'Geneva' } }));
    const geneva = (await t.sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM cards c JOIN customers cu ON cu.id = c.customer_id WHERE cu.branch = 'Geneva'",
    ))!.n;
    expect(saved).toEqual({ status: 'saved', rows: geneva });
    const lines = readFileSync(target, 'utf8').trimEnd().split('\r\n');
    expect(lines.length).toBe(1 + geneva);
    expect(lines.slice(1).every((l) => l.split(',')[6] === 'Geneva')).toBe(true);
    expect(writes.length).toBe(1 + Math.ceil(geneva / 500)); // the header, then one write per batch
  });

  it('removes the partial file when writing fails part-way', async () => {
    writes.length = 0;
    failAfter = 1; // the header is written, the first batch fails
    const r = await t.ws.router.dispatch(auditor.client, 'usage:export', {});
    expect(r.ok).toBe(false);
    expect(existsSync(target)).toBe(false);
  });
});

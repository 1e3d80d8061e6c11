import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshWorkstation } from '../../support/fresh-workstation';
import { startLoopbackServer, type LoopbackServer } from '../../../src/host/loopback-server';
import { USAGE_CSV_PATH } from '../../../src/shared/contract/usage.contract';
import { http } from '../../support/http';
import { addOperator, setupOfficer, type TestOperator } from '../../support/operators';
import { seedDeskUsage } from '../../support/usage-seed';

// The streamed CSV over the loopback host, attacked as a script on the same machine would: no
// cookie, a cookie not signed in, a cross-site request, a clerk, malformed filters — each refused
// with no row in the answer; an auditor gets every card, across several batches.

describe('usage CSV on the loopback host', () => {
  let dir: string;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let server: LoopbackServer;
  let auditor: TestOperator;
  let clerk: TestOperator;

  const connect = async () => String((await http(server.launchUrl())).headers['set-cookie']).split(';')[0]!;
  const signInOver = (cookie: string, op: TestOperator) =>
    http(`${server.origin}/rpc`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: cookie, Origin: server.origin },
      body: JSON.stringify({ channel: 'auth:signIn', payload: { username: op.username, password: op.password } }),
    });
  const exportAs = (cookie: string | null, query = '', site = 'same-origin') =>
    http(`${server.origin}${USAGE_CSV_PATH}${query}`, {
      headers: { ...(cookie ? { Cookie: cookie } : {}), 'Sec-Fetch-Site': site },
    });
  const audited = async () =>
    (await t.sql.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE action = 'usage.export'"))!.n;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otac-usage-host-'));
    const renderer = join(dir, 'renderer');
    mkdirSync(renderer);
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>ui</title>');
    t = await freshWorkstation();
    server = await startLoopbackServer(t.ws, { rendererDir: renderer });
    await setupOfficer(t.ws);
    auditor = await addOperator(t.ws, 'auditor');
    clerk = await addOperator(t.ws, 'clerk');
    await seedDeskUsage(t.sql, { cards: 1200 });
  });
  afterAll(async () => {
    await server?.close();
    await t?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses without a cookie, before sign-in, cross-site and to a clerk, with no row and no export audited', async () => {
    const cookie = await connect();
    const before = await audited();
    expect((await exportAs(null)).status).toBe(401);
    const notSignedIn = await exportAs(cookie);
    expect(notSignedIn.status).toBe(401);
    expect((await signInOver(cookie, auditor)).status).toBe(200);
    const crossSite = await exportAs(cookie, '', 'cross-site');
    expect(crossSite.status).toBe(403);
    const clerkCookie = await connect();
    await signInOver(clerkCookie, clerk);
    const asClerk = await exportAs(clerkCookie);
    expect(asClerk.status).toBe(403);
    const badFilter = await exportAs(cookie, '?from=2026-13-45');
    expect(badFilter.status).toBe(400);
    expect(badFilter.body).toMatch(/Check the export's filters/);
    for (const r of [notSignedIn, crossSite, asClerk, badFilter]) expect(r.body).not.toContain('SEED');
    expect(await audited()).toBe(before);
  });

  it('streams every card to an auditor, in card order, across batches', async () => {
    const cookie = await connect();
    await signInOver(cookie, auditor);
    const r = await exportAs(cookie, '?from=2026-11-01&to=2026-11-30');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toMatch(/^attachment; filename="otac-usage-by-card-/);
    const lines = r.body.trimEnd().split('\r\n');
    expect(lines.length).toBe(1 + 1200); // more than two batches of 500
    const keys = lines.slice(1).map((l) => l.split(',')[0]);
    expect(keys).toEqual([...keys].sort());
    expect(new Set(keys).size).toBe(1200);
    const byBranch = await exportAs(cookie, '?by=branch');
    expect(
      byBranch.body
        .trimEnd()
        .split('\r\n')
        .slice(1)
        .map((l) => l.split(',')[0]),
    ).toEqual(['Bern', 'Geneva', 'Zurich']);
  });
});

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { startLoopbackServer, type LoopbackServer } from '../../../src/host/loopback-server';
import { http } from '../../support/http';
import { deskSql } from '../../support/test-engine';

describe('loopback host security', () => {
  let dir: string;
  let ws: DeskWorkstation;
  let desk: Awaited<ReturnType<typeof freshWorkstation>> | undefined;
  let server: LoopbackServer;
  let cookie: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otac-host-'));
    const renderer = join(dir, 'renderer');
    mkdirSync(renderer);
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>ui</title>');
    desk = await freshWorkstation();
    ws = desk.ws;
    server = await startLoopbackServer(ws, { rendererDir: renderer });
    const start = await http(server.launchUrl());
    expect(start.status).toBe(200);
    cookie = String(start.headers['set-cookie']).split(';')[0]!;
  });
  afterAll(async () => {
    await server?.close();
    await desk?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const rpc = (headers: Record<string, string>, body = JSON.stringify({ channel: 'auth:status', payload: {} })) =>
    http(`${server.origin}/rpc`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });

  it('listens on 127.0.0.1 only', async () => {
    expect(new URL(server.origin).hostname).toBe('127.0.0.1');
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) {
      const port = new URL(server.origin).port;
      await expect(http(`http://${external.address}:${port}/`)).rejects.toThrow(/ECONNREFUSED/);
    }
  });

  it('sets an HttpOnly, SameSite=Strict client cookie for a valid launch token only', async () => {
    expect((await http(server.launchUrl())).headers['set-cookie']?.[0]).toMatch(/HttpOnly; SameSite=Strict/);
    const bad = await http(`${server.origin}/start?token=guess`);
    expect(bad.status).toBe(403);
    expect(bad.headers['set-cookie']).toBeUndefined();
  });

  it('serves the UI with a strict CSP to a connected client, and nothing without the cookie', async () => {
    const ok = await http(`${server.origin}/`, { headers: { Cookie: cookie } });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-security-policy']).toContain("script-src 'self'");
    expect((await http(`${server.origin}/`)).status).toBe(401);
    expect((await http(`${server.origin}/..%2f..%2fetc%2fpasswd`, { headers: { Cookie: cookie } })).status).toBe(404);
  });

  it('answers calls from its own origin with the cookie', async () => {
    const r = await rpc({ Cookie: cookie, Origin: server.origin });
    expect(JSON.parse(r.body)).toEqual({ ok: true, value: { firstRun: true, session: null } });
  });

  it('refuses a call without the cookie, from another origin, or naming another host', async () => {
    expect((await rpc({ Origin: server.origin })).status).toBe(401);
    expect((await rpc({ Cookie: cookie, Origin: 'http://evil.example' })).status).toBe(403);
    expect((await rpc({ Cookie: cookie })).status).toBe(403);
    expect((await rpc({ Cookie: cookie, Origin: server.origin, Host: 'attacker.example' })).status).toBe(421);
  });

  it('refuses an oversized body and invalid JSON as values, changing nothing', async () => {
    const big = await rpc({ Cookie: cookie, Origin: server.origin }, 'x'.repeat(400 * 1024));
    expect(big.status).toBe(413);
    const bad = await rpc({ Cookie: cookie, Origin: server.origin }, '{not json');
    expect(JSON.parse(bad.body)).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await deskSql(ws).get('SELECT count(*) AS n FROM operators')).toEqual({ n: 0 });
  });
});

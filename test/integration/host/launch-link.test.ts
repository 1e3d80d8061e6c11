import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { chromiumArgs, writeLaunchPage } from '../../../src/host/launch-page';
import { LAUNCH_LINK_TTL_MS, startLoopbackServer, type LoopbackServer } from '../../../src/host/loopback-server';
import { CHROMIUM_ARGS } from '../../support/browser';
import { http } from '../../support/http';

// The launch link used to open the desk any number of times, for as long as the process ran,
// and `--open` put it on Chromium's command line for every local account to read in `ps`.

describe('launch link', () => {
  let dir: string;
  let ws: DeskWorkstation;
  let desk: Awaited<ReturnType<typeof freshWorkstation>> | undefined;
  let server: LoopbackServer;
  let clock = Date.now();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otac-launch-'));
    const renderer = join(dir, 'renderer');
    mkdirSync(renderer);
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>ui</title><p>the desk</p>');
    desk = await freshWorkstation();
    ws = desk.ws;
    server = await startLoopbackServer(ws, { rendererDir: renderer, now: () => clock });
  });
  afterAll(async () => {
    await server?.close();
    await desk?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const cookieOf = (r: { headers: Record<string, string | string[] | undefined> }) => r.headers['set-cookie'];

  it('opens the desk once; a replay gets no cookie', async () => {
    const link = server.launchUrl();
    const first = await http(link);
    expect(first.status).toBe(200);
    expect(cookieOf(first)).toBeDefined();
    const replay = await http(link);
    expect(replay.status).toBe(403);
    expect(cookieOf(replay)).toBeUndefined();
    expect(replay.body).toMatch(/already used|expired/);
  });

  it('opens the desk for exactly one of 50 concurrent requests with the same link', async () => {
    const link = server.launchUrl();
    const replies = await Promise.all(Array.from({ length: 50 }, () => http(link)));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(replies.filter((r) => cookieOf(r) !== undefined)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 403)).toHaveLength(49);
  });

  it('expires unused after LAUNCH_LINK_TTL_MS', async () => {
    expect(LAUNCH_LINK_TTL_MS).toBe(2 * 60_000);
    const late = server.launchUrl();
    const inTime = server.launchUrl();
    clock += LAUNCH_LINK_TTL_MS - 1_000;
    expect((await http(inTime)).status).toBe(200);
    clock += 2_000;
    const r = await http(late);
    expect(r.status).toBe(403);
    expect(cookieOf(r)).toBeUndefined();
  });

  it('refuses a link of another start, and a mangled one', async () => {
    const link = new URL(server.launchUrl());
    const token = link.searchParams.get('token')!;
    for (const bad of [
      token.slice(0, -1),
      token + 'A',
      token.toUpperCase() === token ? token.toLowerCase() : token.toUpperCase(),
      '',
    ]) {
      expect((await http(`${server.origin}/start?token=${encodeURIComponent(bad)}`)).status).toBe(403);
    }
    expect((await http(link.href)).status).toBe(200);
  });

  it('keeps the link off the command line: Chromium gets a private page that forwards to it', async () => {
    const dataDir = join(dir, 'data');
    const link = server.launchUrl();
    const token = new URL(link).searchParams.get('token')!;
    const page = writeLaunchPage(dataDir, link);
    const file = fileURLToPath(page.fileUrl);
    const args = chromiumArgs(page.fileUrl, join(dataDir, 'chromium-profile'), false);
    expect(args.join(' ')).not.toContain(token);
    expect(args.join(' ')).not.toContain(server.origin);
    // Only this account can read the page that holds the link.
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'launch')).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toContain(token);

    // The page really opens the desk in Chromium, and its link is spent afterwards.
    const browser = await chromium.launch({
      executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(page.fileUrl);
      await tab.waitForURL(`${server.origin}/`);
      expect(await tab.textContent('p')).toBe('the desk');
    } finally {
      await browser.close();
    }
    expect((await http(link)).status).toBe(403);
    page.remove();
    expect(() => statSync(file)).toThrow();
  });
});

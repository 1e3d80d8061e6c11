import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { ReaderMode } from '../../src/core/card/reader-setup';
import type { MailerOptions } from '../../src/core/mailer/mailer.module';
import type { SupportOptions } from '../../src/core/support/support-settings';
import { trainingCardMaker } from '../../src/card-sim/training-cards';
import type { PgDatabaseOptions } from '../../src/core/db/pg/pg-database';
import { createWorkstation, openWorkstation, type DeskWorkstation, type Workstation } from '../../src/core/workstation';
import { startLoopbackServer, type LoopbackServer } from '../../src/host/loopback-server';
import { CHROMIUM_ARGS } from '../../src/host/chromium-mailer-renderer';

export { CHROMIUM_ARGS };

/** A desk in Chromium; `W` is a desk on PostgreSQL (`DeskWorkstation`, no SQLite handle) when opened with `database`. */
export interface Desk<W extends DeskWorkstation = Workstation> {
  readonly ws: W;
  /** The workstation's data directory (database, WAL, logs): for scans after a run. */
  readonly dataDir: string;
  readonly server: LoopbackServer;
  readonly browser: Browser;
  /** A new browser context signed in to nothing, on the workstation's start page. */
  openPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Real services on a fresh data directory, the built UI, and Debian's Chromium driving it. */
type DeskOptions = { readers?: ReaderMode; mailer?: MailerOptions; support?: SupportOptions };
export async function openDesk(opts?: DeskOptions): Promise<Desk>;
export async function openDesk(opts: DeskOptions & { database: PgDatabaseOptions }): Promise<Desk<DeskWorkstation>>;
export async function openDesk(
  opts: DeskOptions & { database?: PgDatabaseOptions } = {},
): Promise<Desk<DeskWorkstation>> {
  const rendererDir = resolve(__dirname, '../../out/renderer');
  if (!existsSync(join(rendererDir, 'index.html'))) throw new Error('Build the UI first: npm run build');
  const dataDir = mkdtempSync(join(tmpdir(), 'otac-desk-'));
  const options = {
    dataDir,
    shell: 'browser',
    version: 'test',
    readers: opts.readers ?? 'none',
    trainingCards: trainingCardMaker,
    ...(opts.mailer ? { mailer: opts.mailer } : {}),
    ...(opts.support ? { support: opts.support } : {}),
  } as const;
  // On PostgreSQL the branch network's desk (openWorkstation); else the SQLite desk, whatever the environment says.
  const ws = opts.database
    ? await openWorkstation({ ...options, database: opts.database })
    : createWorkstation(options);
  const server = await startLoopbackServer(ws, { rendererDir });
  const browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
  const contexts: BrowserContext[] = [];
  return {
    ws,
    dataDir,
    server,
    browser,
    async openPage() {
      const ctx = await browser.newContext();
      contexts.push(ctx);
      const page = await ctx.newPage();
      // Each context gets its own launch link: a link works once.
      await page.goto(server.launchUrl());
      await page.waitForURL(`${server.origin}/`);
      return page;
    },
    async close() {
      for (const c of contexts) await c.close();
      await browser.close();
      await server.close();
      await ws.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

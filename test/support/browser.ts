import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { ReaderMode } from '../../src/core/card/reader-setup';
import type { MailerOptions } from '../../src/core/mailer/mailer.module';
import type { SupportOptions } from '../../src/core/support/support-settings';
import { trainingCardMaker } from '../../src/card-sim/training-cards';
import type { PgDatabaseOptions } from '../../src/core/db/pg/pg-database';
import { createWorkstation, openWorkstation, type DeskWorkstation } from '../../src/core/workstation';
import { freshTestDatabase, pgSqlOf, registerDeskSql, sqliteSql, testEngine, type DeskSql } from './test-engine';
import { PgDatabase } from '../../src/core/db/pg/pg-database';
import { startLoopbackServer, type LoopbackServer } from '../../src/host/loopback-server';
import { CHROMIUM_ARGS } from '../../src/host/chromium-mailer-renderer';

export { CHROMIUM_ARGS };

/** A desk in Chromium, on the engine the run tests (test-engine.ts) or on the `database` given. */
export interface Desk {
  readonly ws: DeskWorkstation;
  /** Looks behind the code in assertions, on either engine. */
  readonly sql: DeskSql;
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
export async function openDesk(opts: DeskOptions & { database?: PgDatabaseOptions } = {}): Promise<Desk> {
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
  // On the database given, or the run's engine: a fresh database on the test cluster, or the desk's SQLite file.
  const fresh = !opts.database && testEngine === 'postgres' ? await freshTestDatabase() : null;
  const database = opts.database ?? fresh?.options;
  let sql: DeskSql;
  let ws: DeskWorkstation;
  let closeSql = async (): Promise<void> => undefined;
  if (database) {
    ws = await openWorkstation({ ...options, database });
    if (fresh) {
      sql = fresh.sql;
      closeSql = () => fresh.drop();
    } else {
      const lookup = new PgDatabase({ ...database, maxConnections: 2 });
      sql = pgSqlOf(lookup);
      closeSql = () => lookup.close();
    }
  } else {
    const local = createWorkstation(options);
    ws = local;
    sql = sqliteSql(local.db);
  }
  registerDeskSql(ws, sql);
  const server = await startLoopbackServer(ws, { rendererDir });
  const browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
  const contexts: BrowserContext[] = [];
  return {
    ws,
    sql,
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
      await closeSql();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

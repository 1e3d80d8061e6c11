import '../core/thread-pool';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readerModeFromEnv } from '../core/card/reader-setup';
import { makePrivateDir } from '../core/private-files';
import { trainingCardMaker } from '../card-sim/training-cards';
import { openWorkstation } from '../core/workstation';
import { ChromiumMailerRenderer } from './chromium-mailer-renderer';
import { chromiumArgs, writeLaunchPage, type LaunchPage } from './launch-page';
import { LAUNCH_LINK_TTL_MS, startLoopbackServer } from './loopback-server';

// Browser mode: the real services on the real database, served to a browser on 127.0.0.1 only.
// Used where no Electron binary exists (these build machines) and by the browser tests.

async function main(): Promise<void> {
  const root = resolve(__dirname, '../..');
  const dataDir = resolve(process.env['OTAC_DATA_DIR'] ?? join(root, '.data', 'workstation'));
  const rendererDir = join(root, 'out', 'renderer');
  if (!existsSync(join(rendererDir, 'index.html'))) {
    console.error('The UI is not built. Run `npm run build` (npm start does it for you).');
    process.exit(1);
  }
  const ws = await openWorkstation({
    dataDir,
    shell: 'browser',
    version: process.env['npm_package_version'] ?? 'dev',
    readers: readerModeFromEnv(process.env['OTAC_READER']),
    trainingCards: trainingCardMaker,
    mailer: { renderer: ChromiumMailerRenderer.fromHost() },
  });
  const port = process.env['OTAC_PORT'] ? Number(process.env['OTAC_PORT']) : 0;
  const server = await startLoopbackServer(ws, { rendererDir, port });

  console.log('OTAC Issuer Workstation — browser mode (no Electron binary on this machine)');
  console.log(`  data directory: ${dataDir}`);
  if (ws.engine === 'postgres') console.log("  database:       the branch network's PostgreSQL (OTAC_DATABASE_URL)");
  const printLink = () => {
    console.log(`  open:           ${server.launchUrl()}`);
    const again = process.stdin.isTTY ? 'press Enter here for a new one' : 'restart for a new one';
    console.log(`  (the link works once, for 2 minutes; ${again}. Do not share it)`);
  };

  let launchPage: LaunchPage | null = null;
  if (process.argv.includes('--open')) launchPage = openBrowser(server.launchUrl(), dataDir);
  if (!launchPage) printLink();
  // Only whoever holds this terminal can ask for another link.
  if (process.stdin.isTTY) process.stdin.on('data', printLink);

  const stop = async () => {
    launchPage?.remove();
    await server.close();
    await ws.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

/** Opens Debian's Chromium as an app window on the launch page, when a display is available. */
function openBrowser(launchUrl: string, dataDir: string): LaunchPage | null {
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!chromium || !process.env['DISPLAY']) {
    console.log('  no display or Chromium here: open the link below in a browser on this machine');
    return null;
  }
  const page = writeLaunchPage(dataDir, launchUrl);
  // The page is useless once its link is used or expired; it is removed then, not left behind.
  setTimeout(() => page.remove(), LAUNCH_LINK_TTL_MS).unref();
  const profile = join(dataDir, 'chromium-profile');
  makePrivateDir(profile);
  const child = spawn(chromium, chromiumArgs(page.fileUrl, profile, process.getuid?.() === 0), {
    stdio: 'ignore',
    detached: true,
  });
  child.unref();
  console.log('  opened in Chromium');
  return page;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});

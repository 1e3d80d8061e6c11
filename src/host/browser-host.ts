import '../core/thread-pool';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readerModeFromEnv } from '../core/card/reader-setup';
import { makePrivateDir } from '../core/private-files';
import { createWorkstation } from '../core/workstation';
import { startLoopbackServer } from './loopback-server';

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
  const ws = createWorkstation({
    dataDir,
    shell: 'browser',
    version: process.env['npm_package_version'] ?? 'dev',
    readers: readerModeFromEnv(process.env['OTAC_READER']),
  });
  const port = process.env['OTAC_PORT'] ? Number(process.env['OTAC_PORT']) : 0;
  const server = await startLoopbackServer(ws, { rendererDir, port });

  console.log('OTAC Issuer Workstation — browser mode (no Electron binary on this machine)');
  console.log(`  data directory: ${dataDir}`);
  console.log(`  open:           ${server.url}`);
  console.log("  (the link carries this run's launch token: anyone with it can open this desk, so do not share it)");

  if (process.argv.includes('--open')) openBrowser(server.url, dataDir);

  const stop = async () => {
    await server.close();
    await ws.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

/** Opens Debian's Chromium as an app window when a display is available. */
function openBrowser(url: string, dataDir: string): void {
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!chromium || !process.env['DISPLAY']) {
    console.log('  no display or Chromium here: open the link in a browser on this machine');
    return;
  }
  const profile = join(dataDir, 'chromium-profile');
  makePrivateDir(profile);
  const child = spawn(
    chromium,
    [
      `--app=${url}`,
      `--user-data-dir=${profile}`,
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    ],
    { stdio: 'ignore', detached: true },
  );
  child.unref();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});

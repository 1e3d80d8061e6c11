import '../core/thread-pool';
import { app, BrowserWindow, dialog, ipcMain } from 'electron';
import { join } from 'node:path';
import { readerModeFromEnv } from '../core/card/reader-setup';
import type { ClientEvents } from '../core/rpc/event-feed';
import { trainingCardMaker } from '../card-sim/training-cards';
import { openWorkstation, type DeskWorkstation } from '../core/workstation';
import { appUrlMatcher, devRendererUrl } from './app-url';
import { ElectronMailerRenderer } from './mailer-window';
import { electronFileSaver } from './save-file';
import { hardenSession, isTrustedSender, lockDownWebContents } from './security';

// Electron glue only: one window, the preload bridge, app lifecycle. All work happens in src/core.

const rendererIndex = join(__dirname, '../renderer/index.html');
// The dev server only in an unpackaged run on loopback (src/main/app-url.ts); otherwise our own files.
const rendererUrl = devRendererUrl(process.env['ELECTRON_RENDERER_URL'], app.isPackaged);
const isAppUrl = appUrlMatcher(rendererUrl ?? { file: rendererIndex });

let win: BrowserWindow | null = null;
let ws: DeskWorkstation | null = null;
/** The window's events: only what its signed-in role may see (core/rpc/event-feed.ts). */
let windowEvents: ClientEvents | null = null;

if (!app.requestSingleInstanceLock()) {
  // A second start focuses the first window instead of opening the database twice.
  app.quit();
} else {
  app.on('second-instance', () => {
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
  });
  lockDownWebContents(isAppUrl);
  app
    .whenReady()
    .then(start, (err: unknown) => fail(err))
    .catch((err: unknown) => fail(err));
  app.on('window-all-closed', () => app.quit());
  app.on('will-quit', () => void ws?.close());
}

async function start(): Promise<void> {
  hardenSession();
  try {
    ws = await openWorkstation({
      dataDir: process.env['OTAC_DATA_DIR'] ?? app.getPath('userData'),
      shell: 'electron',
      version: app.getVersion(),
      readers: readerModeFromEnv(process.env['OTAC_READER']),
      trainingCards: trainingCardMaker,
      mailer: { renderer: new ElectronMailerRenderer() },
      saveFile: electronFileSaver(() => win),
    });
  } catch (err) {
    fail(err);
    return;
  }
  const workstation = ws;
  ipcMain.handle('otac:call', async (event, channel: unknown, payload: unknown) => {
    if (!isTrustedSender(win, event.sender, isAppUrl)) {
      return {
        ok: false,
        error: { code: 'FORBIDDEN', message: 'Calls are accepted from the workstation window only.' },
      };
    }
    const result = await workstation.router.dispatch(`window-${event.sender.id}`, channel, payload);
    windowEvents?.afterCall(); // a sign-in sends the window what is current for its role
    return result;
  });

  win = new BrowserWindow({
    width: 1280,
    height: 820,
    show: false,
    title: 'OTAC Issuer Workstation',
    // Written out literally so reviewers and electronegativity see exactly what the window gets.
    webPreferences: {
      // Reviewed: the preload exposes one contract call and one event subscription through contextBridge, nothing else.
      preload: join(__dirname, '../preload/index.js'), // eng-disable PRELOAD_JS_CHECK
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
      disableBlinkFeatures: 'Auxclick',
    },
  });
  const current = win;
  const clientId = `window-${current.webContents.id}`;
  current.webContents.on('did-finish-load', () => {
    windowEvents?.close();
    windowEvents = workstation.feed.open(clientId, (name, payload) => {
      if (!current.isDestroyed()) current.webContents.send('otac:event', name, payload);
    });
  });
  current.on('closed', () => {
    windowEvents?.close();
    windowEvents = null;
    win = null;
  });
  current.once('ready-to-show', () => current.show());
  void (rendererUrl ? current.loadURL(rendererUrl.href) : current.loadFile(rendererIndex));
}

function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  dialog.showErrorBox('OTAC Issuer Workstation cannot start', message);
  app.exit(1);
}

import type { BrowserWindowConstructorOptions, PrintToPDFOptions } from 'electron';

// The offscreen window that turns one mailer into a PDF in Electron (docs/mailer.md). Pure values
// and handlers, kept apart from mailer-window.ts so they are unit-tested without Electron. The
// window has no preload (so no window.otac, no contract), a sandbox, context isolation, no script,
// an in-memory session of its own, and it may not navigate, open windows, ask for permissions or
// fetch anything but its own data: URL. It is destroyed after each PDF.

/** An in-memory session (no `persist:` prefix): nothing of a mailer is cached on disk. */
export const MAILER_PARTITION = 'otac-mailer-render';

/**
 * Opens the window through the constructor it is given (Electron's BrowserWindow in main, a recorder
 * in the unit test). The options are written out literally so reviewers and electronegativity see
 * exactly what the window gets.
 */
export function createMailerWindow<W>(BrowserWindow: new (options: BrowserWindowConstructorOptions) => W): W {
  return new BrowserWindow({
    show: false,
    width: 794, // A4 at 96 dpi
    height: 1123,
    title: 'Mailer',
    webPreferences: {
      offscreen: true,
      // No preload: the page has no bridge to main and cannot reach the contract.
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      javascript: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
      devTools: false,
      navigateOnDragDrop: false,
      disableBlinkFeatures: 'Auxclick',
      partition: MAILER_PARTITION,
    },
  });
}

export const MAILER_PDF_OPTIONS: PrintToPDFOptions = {
  pageSize: 'A4',
  printBackground: true,
  preferCSSPageSize: true,
  margins: { marginType: 'none' },
};

/** The one URL the window loads: the filled-in template itself, no file and no server. */
export function mailerDataUrl(html: string): string {
  return `data:text/html;charset=utf-8;base64,${Buffer.from(html, 'utf8').toString('base64')}`;
}

/** What the window's contents and session are given; each refuses everything but the mailer itself. */
export function mailerGuards(url: string) {
  return {
    /** will-navigate, will-redirect, will-frame-navigate: the page stays where main put it. */
    preventNavigation: (event: { preventDefault(): void }) => event.preventDefault(),
    windowOpen: () => ({ action: 'deny' as const }),
    permissionRequest: (_wc: unknown, _permission: string, callback: (granted: boolean) => void) => callback(false),
    permissionCheck: () => false,
    /** Only the mailer's own data: URL loads; the template needs nothing else. */
    beforeRequest: (details: { url: string }, callback: (response: { cancel: boolean }) => void) =>
      callback({ cancel: details.url !== url }),
  };
}

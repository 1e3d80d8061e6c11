import { BrowserWindow } from 'electron';
import type { MailerRenderer } from '../core/mailer/mailer-ports';
import { createMailerWindow, MAILER_PDF_OPTIONS, mailerDataUrl, mailerGuards } from './mailer-window-options';

/**
 * Electron's mailer renderer: one offscreen window per mailer (options and guards in
 * mailer-window-options.ts), `printToPDF`, destroyed in every case. The PDF goes back to the
 * mailer service in main, which sends it to the printer; the desk's window never sees it.
 */
export class ElectronMailerRenderer implements MailerRenderer {
  readonly name = 'electron-offscreen';

  async renderPdf(html: string): Promise<Buffer> {
    const url = mailerDataUrl(html);
    const guards = mailerGuards(url);
    const win = createMailerWindow(BrowserWindow);
    try {
      const wc = win.webContents;
      wc.on('will-navigate', guards.preventNavigation);
      wc.on('will-redirect', guards.preventNavigation);
      wc.on('will-frame-navigate', guards.preventNavigation);
      wc.setWindowOpenHandler(guards.windowOpen);
      wc.session.setPermissionRequestHandler(guards.permissionRequest);
      wc.session.setPermissionCheckHandler(guards.permissionCheck);
      wc.session.webRequest.onBeforeRequest(guards.beforeRequest);
      await win.loadURL(url);
      return await wc.printToPDF(MAILER_PDF_OPTIONS);
    } finally {
      win.destroy();
    }
  }
}

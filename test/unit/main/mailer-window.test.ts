import type { BrowserWindowConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import {
  MAILER_PARTITION,
  MAILER_PDF_OPTIONS,
  mailerDataUrl,
  mailerGuards,
  createMailerWindow,
} from '../../../src/main/mailer-window-options';

// Electron cannot run here; what the offscreen mailer window is given is checked as values.

/** Stands in for BrowserWindow: keeps the options the window would be opened with. */
class RecordingWindow {
  constructor(readonly options: BrowserWindowConstructorOptions) {}
}

describe('the offscreen mailer window', () => {
  const options = createMailerWindow(RecordingWindow).options;
  const prefs = options.webPreferences ?? {};

  it('has no preload, a sandbox, context isolation, no node and no script', () => {
    expect(options.show).toBe(false);
    expect(prefs).not.toHaveProperty('preload');
    expect(prefs).toMatchObject({
      offscreen: true,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      javascript: false,
      webSecurity: true,
      webviewTag: false,
      devTools: false,
    });
  });

  it('renders in an in-memory session of its own, not the desk’s', () => {
    expect(prefs.partition).toBe(MAILER_PARTITION);
    expect(MAILER_PARTITION.startsWith('persist:')).toBe(false);
  });

  it('prints A4 with the template’s own page size and no margins added', () => {
    expect(MAILER_PDF_OPTIONS).toMatchObject({ pageSize: 'A4', preferCSSPageSize: true, printBackground: true });
  });

  it('loads the mailer as a data: URL that round-trips any text', () => {
    const html = '<p>Köln & <b>N-7001</b></p>';
    const url = mailerDataUrl(html);
    expect(url.startsWith('data:text/html;charset=utf-8;base64,')).toBe(true);
    expect(Buffer.from(url.split(',')[1]!, 'base64').toString('utf8')).toBe(html);
  });

  it('blocks navigation, new windows, permissions and every request but its own page', () => {
    const url = mailerDataUrl('<p>x</p>');
    const g = mailerGuards(url);
    let prevented = 0;
    g.preventNavigation({ preventDefault: () => prevented++ });
    expect(prevented).toBe(1);
    expect(g.windowOpen()).toEqual({ action: 'deny' });
    const granted: boolean[] = [];
    g.permissionRequest(null, 'media', (ok) => granted.push(ok));
    expect(granted).toEqual([false]);
    expect(g.permissionCheck()).toBe(false);
    const answers: boolean[] = [];
    for (const u of [url, 'https://evil.example/x.png', 'file:///etc/passwd', 'data:text/html,other']) {
      g.beforeRequest({ url: u }, (r) => answers.push(r.cancel));
    }
    expect(answers).toEqual([false, true, true, true]);
  });
});

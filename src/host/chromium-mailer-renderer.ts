import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import type { MailerRenderer } from '../core/mailer/mailer-ports';

// Browser mode's mailer renderer: the host's own headless Chromium, never the desk's page. Each
// mailer gets a fresh browser context with script off and the network off, closed right after its
// PDF is made, so K is in no page that outlives the print (docs/mailer.md).

/** Headless Chromium on these machines: no sandbox (root, containers), nothing that phones home. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

/** Debian's Chromium (TESTBED.md), or CHROMIUM_PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = [env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => typeof p === 'string' && p !== '' && existsSync(p)) ?? null;
}

export class ChromiumMailerRenderer implements MailerRenderer {
  readonly name = 'chromium-headless';
  private browser: Promise<Browser> | null = null;

  constructor(private readonly executablePath: string) {}

  /** The renderer for this host, or null when it has no Chromium (the mailer page then says so). */
  static fromHost(env: NodeJS.ProcessEnv = process.env): ChromiumMailerRenderer | null {
    const path = findChromium(env);
    return path ? new ChromiumMailerRenderer(path) : null;
  }

  async renderPdf(html: string): Promise<Buffer> {
    const browser = await this.launch();
    const context = await browser.newContext({ javaScriptEnabled: false, offline: true });
    try {
      const page = await context.newPage();
      // Nothing is fetched: the template is self-contained, and anything else is refused.
      await page.route('**/*', (route) => route.abort());
      await page.setContent(html, { waitUntil: 'load' });
      return await page.pdf({ format: 'A4', printBackground: true, preferCSSPageSize: true });
    } finally {
      await context.close();
    }
  }

  async close(): Promise<void> {
    const b = this.browser;
    this.browser = null;
    if (b) await (await b.catch(() => null))?.close();
  }

  private launch(): Promise<Browser> {
    if (!this.browser) {
      const launching = chromium.launch({ executablePath: this.executablePath, args: CHROMIUM_ARGS, headless: true });
      // A failed launch is retried at the next print rather than remembered.
      launching.catch(() => {
        if (this.browser === launching) this.browser = null;
      });
      this.browser = launching;
    }
    return this.browser;
  }
}

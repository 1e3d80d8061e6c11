import type { Core, FeatureModule } from '../feature-module';
import { mailerHandlers } from './mailer.ipc';
import { AppError } from '../errors';
import type { MailerPrinter, MailerRenderer, SheetPrinter } from './mailer-ports';
import { mailerPrinterFromEnv } from './mailer-printers';
import { loadMailerTemplate } from './mailer-template';
import { MailerService } from './mailer.service';

/** What the process entry gives the mailer: its Chromium and, if not the default, its printer. */
export interface MailerOptions {
  /** Browser mode: the host's headless Chromium; Electron: an offscreen window. None: no printing here. */
  readonly renderer?: MailerRenderer | null;
  /** Default: OTAC_MAILER_PRINTER (CUPS) or a private folder (mailer-printers.ts). */
  readonly printer?: MailerPrinter;
  /** Default: resources/mailer next to the application. */
  readonly templateDir?: string;
}

/** The Mailers page: the queue, printing under dual control, reprints, the print log. */
export function mailerModule(
  core: Core,
): FeatureModule<ReturnType<typeof mailerHandlers>> & { readonly sheets: SheetPrinter } {
  const opts = core.opts.mailer ?? {};
  const renderer = opts.renderer ?? null;
  const printer = opts.printer ?? mailerPrinterFromEnv(process.env, core.opts.dataDir);
  const now = core.opts.now;
  const service = new MailerService({
    cards: core.repos.cards,
    customers: core.repos.customers,
    prints: core.repos.mailerPrints,
    cardSeries: core.cardSeries,
    keystore: core.keystore,
    dualControl: core.dualControl,
    audit: core.audit,
    atomically: core.repos.atomically,
    log: core.log,
    renderer,
    printer,
    // Read at each print, so a bank edits resources/mailer/issuer.json without a restart.
    template: () => loadMailerTemplate(opts.templateDir),
    ...(now ? { now: () => new Date(now()) } : {}),
  });
  // The emergency sheet of a reissue goes the mailer's way: same renderer, same printer, no copy kept.
  const sheets: SheetPrinter = {
    destination: printer.destination,
    async print(html, serial) {
      if (!renderer)
        throw new AppError(
          'MAILER_NO_RENDERER',
          'This desk cannot render printed pages. Print it on a desk with the mailer set up.',
        );
      const pdf = await renderer.renderPdf(html);
      try {
        await printer.print(pdf, { serial });
      } finally {
        pdf.fill(0);
      }
    },
  };
  return {
    sheets,
    handlers: mailerHandlers(service, core.events),
    close: async () => {
      await renderer?.close?.();
    },
  };
}

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../errors';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../private-files';
import type { MailerPrinter, MailerPrintJob } from './mailer-ports';

// The production printers (docs/mailer.md, "Where the PDF goes"). Tests use a recording printer
// instead (test/support/recording-printer.ts): a printer is a boundary we do not own.

/** A private folder (0700, files 0600) the operator chose, e.g. on the secure print server's share. */
export class PrivateFolderPrinter implements MailerPrinter {
  readonly destination: string;

  constructor(private readonly dir: string) {
    this.destination = `folder: ${dir}`;
  }

  async print(pdf: Buffer, job: MailerPrintJob): Promise<void> {
    makePrivateDir(this.dir);
    // `wx`: a serial is written once; an existing file is never replaced.
    writeFileSync(join(this.dir, `mailer-${job.serial}.pdf`), pdf, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  }
}

/** CUPS: `lp -d <printer>` with the PDF on stdin, so it never touches this desk's disk. */
export class LpPrinter implements MailerPrinter {
  readonly destination: string;

  constructor(
    private readonly printer: string,
    private readonly command = 'lp',
  ) {
    if (!/^[A-Za-z0-9._-]{1,127}$/.test(printer)) {
      throw new AppError('MAILER_PRINTER_NAME', 'The mailer printer name holds letters, digits, dots, dashes only.');
    }
    this.destination = `lp: ${printer}`;
  }

  print(pdf: Buffer, job: MailerPrintJob): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.command, ['-d', this.printer, '-t', `mailer ${job.serial}`, '-'], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.on('error', () => reject(printerDown(this.printer)));
      child.on('close', (code) => (code === 0 ? resolve() : reject(printerDown(this.printer))));
      child.stdin.on('error', () => undefined); // the close handler reports it
      child.stdin.end(pdf);
    });
  }
}

function printerDown(printer: string): AppError {
  return new AppError(
    'MAILER_PRINTER_FAILED',
    `The printer ${printer} did not take the mailer. Check the printer, destroy any partial output, then reprint.`,
  );
}

/** OTAC_MAILER_PRINTER names a CUPS printer; otherwise mailers go to OTAC_MAILER_DIR or `<data dir>/mailers`. */
export function mailerPrinterFromEnv(env: NodeJS.ProcessEnv, dataDir: string): MailerPrinter {
  const printer = env['OTAC_MAILER_PRINTER'];
  if (printer) return new LpPrinter(printer);
  return new PrivateFolderPrinter(env['OTAC_MAILER_DIR'] ?? join(dataDir, 'mailers'));
}

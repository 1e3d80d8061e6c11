// The two boundaries of the mailer that the workstation does not own (docs/mailer.md).
//
// A renderer turns the filled-in mailer HTML into a PDF with Chromium: in browser mode the host's
// own headless Chromium (src/host/chromium-mailer-renderer.ts), in Electron an offscreen window
// with no preload and no contract (src/main/mailer-window.ts). A printer takes the PDF away from the
// desk: CUPS `lp`, or a private folder the operator chose (mailer-printers.ts). Neither ever hands
// the PDF, or K, to the desk's page.

export interface MailerRenderer {
  /** What renders, for the log and the print log ("chromium-headless", "electron-offscreen"). */
  readonly name: string;
  /** The PDF of one self-contained HTML page (no network, no script). */
  renderPdf(html: string): Promise<Buffer>;
  close?(): Promise<void>;
}

export interface MailerPrintJob {
  readonly serial: string;
}

export interface MailerPrinter {
  /** Where the PDF goes, as the operator sees it ("lp: branch-secure", "folder: /srv/mailers"). */
  readonly destination: string;
  /**
   * Sends the PDF. Resolves once the destination has it; rejects if it may not have it. A rejection
   * after part of the PDF left leaves the print `uncertain`, so only a reprint under a new key follows.
   */
  print(pdf: Buffer, job: MailerPrintJob): Promise<void>;
}

/**
 * A page printed the way a mailer is — the same renderer, the same printer, no copy kept at the desk:
 * the emergency sheet of a reissue (docs/reissue.md "Temporary access"). The HTML holds its codes,
 * so it goes straight to the PDF and the printer and is never handed to the desk's page.
 */
export interface SheetPrinter {
  readonly destination: string;
  print(html: string, serial: string): Promise<void>;
}

import { spawnSync } from 'node:child_process';
import type { CardRecord } from '../../src/core/cards/card.repository';
import type { CustomerRecord } from '../../src/core/customers/customer.repository';
import { cardRow } from './cards';
import type { MailerOptions } from '../../src/core/mailer/mailer.module';
import type { MailerPrinter, MailerPrintJob } from '../../src/core/mailer/mailer-ports';
import type { DeskWorkstation } from '../../src/core/workstation';
import { deskSql } from './test-engine';
import { ChromiumMailerRenderer } from '../../src/host/chromium-mailer-renderer';

/**
 * A printer is a boundary we do not own: this one keeps every PDF sent to it, so tests can read what
 * would have reached paper. `failNext` makes the next job fail the way a jammed printer does.
 */
export class RecordingPrinter implements MailerPrinter {
  readonly destination = 'recording printer (tests)';
  readonly jobs: { serial: string; pdf: Buffer }[] = [];
  failNext = 0;

  async print(pdf: Buffer, job: MailerPrintJob): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('printer jammed');
    }
    this.jobs.push({ serial: job.serial, pdf: Buffer.from(pdf) }); // a copy: the service wipes its own
  }
}

/** The host's headless Chromium and a recording printer. */
export function testMailer(): MailerOptions & { printer: RecordingPrinter } {
  const renderer = ChromiumMailerRenderer.fromHost();
  if (!renderer) throw new Error('No Chromium on this host (apt-get install chromium)');
  return { renderer, printer: new RecordingPrinter() };
}

/** The text of a PDF as `pdftotext -layout` reads it (poppler-utils). */
export function pdfText(pdf: Buffer): string {
  const r = spawnSync('pdftotext', ['-layout', '-', '-'], { input: pdf, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pdftotext failed: ${r.stderr}`);
  return r.stdout;
}

let cardSerial = 0;

/**
 * A customer with a card in `awaiting_activation` and its key series in the keystore (which must be
 * unlocked with a master key), as enrollment leaves them: inserted through the repositories.
 */
export async function cardAwaitingActivation(
  ws: DeskWorkstation,
  opts: { n?: string; fullName?: string; cardId?: string } = {},
): Promise<{ card: CardRecord; customer: CustomerRecord }> {
  const i = ++cardSerial;
  const at = new Date().toISOString();
  const { card: enrolling, customer } = await cardRow(deskSql(ws).repos, {
    state: 'enrolling',
    at,
    ...(opts.n ? { n: opts.n } : {}),
    ...(opts.cardId ? { cardId: opts.cardId } : {}),
    customer: {
      fullName: opts.fullName ?? `Erika Mustermann ${i}`,
      birthDate: '1980-01-31',
      address: { line1: 'Heidestraße 17', line2: null, postalCode: '51147', city: 'Köln', country: 'Germany' },
      branch: 'Main',
    },
  });
  const cards = deskSql(ws).repos.cards;
  await ws.keystore.current().cardKey(enrolling.n); // issues series 1, as PERSONALISE does
  const card = await cards.transition(enrolling.id, ['enrolling'], 'awaiting_activation', at);
  if (!card) throw new Error('card did not move to awaiting_activation');
  return { card, customer };
}

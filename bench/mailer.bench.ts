import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatMailerKey } from '../src/core/crypto/mailer-key-format';
import type { MailerPrinter } from '../src/core/mailer/mailer-ports';
import { fillMailer, loadMailerTemplate } from '../src/core/mailer/mailer-template';
import { createWorkstation } from '../src/core/workstation';
import { ChromiumMailerRenderer } from '../src/host/chromium-mailer-renderer';
import { keystoreWithMasterKey } from '../test/support/keys';
import { cardAwaitingActivation } from '../test/support/mailer';
import { addOperator, approvalFor, setupOfficer, value } from '../test/support/operators';

// K/N mailers rendered per second (issue 9): the host's headless Chromium turning a blank page
// into a PDF is the baseline; beside it, the filled-in mailer template alone, and a whole batch
// through the contract (keystore export, print log rows, audit, rendering, a printer that drops
// the PDF), all in the same run.

type Report = (name: string, value: number, unit: string) => void;

const BLANK = '<!doctype html><html><head><meta charset="utf-8"><title>x</title></head><body></body></html>';
const BATCH = Number(process.env['OTAC_BENCH_MAILERS'] ?? 30);

/** Keeps nothing: the printer is outside what is measured. */
const nullPrinter: MailerPrinter = { destination: 'bench (dropped)', print: async () => undefined };

async function perSecond(count: number, one: (i: number) => Promise<unknown>): Promise<number> {
  await one(-1); // warm-up: the browser starts here, not in the figure
  const start = performance.now();
  for (let i = 0; i < count; i++) await one(i);
  return (count / (performance.now() - start)) * 1000;
}

export async function run(report: Report): Promise<void> {
  const renderer = ChromiumMailerRenderer.fromHost();
  if (!renderer) throw new Error('no Chromium on this host');
  const dir = mkdtempSync(join(tmpdir(), 'otac-bench-mailer-'));
  const ws = createWorkstation({
    dataDir: dir,
    shell: 'browser',
    version: 'bench',
    keystore: { backend: 'software', file: join(dir, 'keystore', 'k.otacks'), scryptCost: { N: 2 ** 12, r: 8, p: 1 } },
    mailer: { renderer, printer: nullPrinter },
  });
  try {
    const blank = await perSecond(BATCH, () => renderer.renderPdf(BLANK));
    const template = loadMailerTemplate();
    const html = fillMailer(template, {
      serial: 'M-000001',
      date: '2026-12-02',
      n: 'N-7001',
      cardId: 'A0B1C20001',
      keySeries: 1,
      formattedKey: formatMailerKey(Buffer.alloc(16, 7)),
      customerName: 'Erika Mustermann',
      address: { line1: 'Heidestraße 17', line2: null, postalCode: '51147', city: 'Köln', country: 'Germany' },
    });
    const mailerOnly = await perSecond(BATCH, () => renderer.renderPdf(html));

    const officer = await setupOfficer(ws);
    await keystoreWithMasterKey(ws, officer, await addOperator(ws, 'security_officer'));
    const manager = await addOperator(ws, 'manager');
    const manager2 = await addOperator(ws, 'manager');
    for (let i = 0; i < BATCH; i++) await cardAwaitingActivation(ws);
    const approval = await approvalFor(ws, manager, 'mailer.print', manager2);
    const start = performance.now();
    const out = value(await ws.router.dispatch(manager.client, 'mailer:printBatch', { approval })) as {
      printed: number;
    };
    const batch = (out.printed / (performance.now() - start)) * 1000;
    if (out.printed !== BATCH) throw new Error(`batch printed ${out.printed} of ${BATCH}`);

    report('mailer.blank_page_pdf', blank, 'pages/s');
    report('mailer.template_pdf', mailerOnly, 'mailers/s');
    report('mailer.batch_through_contract', batch, 'mailers/s');
    report('mailer.template_pdf.ratio_vs_blank', mailerOnly / blank, 'x');
    report('mailer.batch.ratio_vs_blank', batch / blank, 'x');
  } finally {
    await ws.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

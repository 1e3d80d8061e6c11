import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kcvAes } from '../../../src/core/crypto/kcv';
import { MAILER_ALPHABET, parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import type { MailerRenderer } from '../../../src/core/mailer/mailer-ports';
import type { DeskWorkstation } from '../../../src/core/workstation';
import type { Result } from '../../../src/shared/contract';
import { databaseContents } from '../../support/desk-contents';
import { freshWorkstation } from '../../support/fresh-workstation';
import { deskSql } from '../../support/test-engine';
import { KEYSTORE_PASSPHRASE, keystoreWithMasterKey } from '../../support/keys';
import { cardAwaitingActivation, pdfText, RecordingPrinter, testMailer } from '../../support/mailer';
import { addOperator, approvalFor, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';
import { encodings } from '../../support/secret-encodings';
import { TEST_COST } from '../keystore/keystore.fixture';

// The K/N mailer through the contract, with the host's real headless Chromium and a recording
// printer (the one boundary we do not own). Every refusal is checked to change nothing: the print
// log, the card's key series, the cards, and what reached the printer.

const C = `[${MAILER_ALPHABET}]`;
/** The documented format: 7 groups of 4 characters + 1 check character, dashes between (docs/keystore.md). */
const KEY_FORMAT = new RegExp(`${C}{5}(?:-${C}{5}){6}`, 'g');

let ws: DeskWorkstation;
let dataDir: string;
let dispose: () => Promise<void>;
let printer: RecordingPrinter;
let renderFails = false;
let manager: TestOperator;
let manager2: TestOperator;
let officer2: TestOperator;
let clerk: TestOperator;
/** Every answer any call gave, for the secret scan. */
const answers: unknown[] = [];

async function call(op: TestOperator, channel: string, input: unknown): Promise<Result<unknown>> {
  const r = await ws.router.dispatch(op.client, channel, input);
  answers.push(r);
  return r;
}

const sql = () => deskSql(ws);

async function snapshot() {
  return {
    prints: await sql().all('SELECT * FROM mailer_prints ORDER BY id'),
    series: await sql().all('SELECT n, mk_version, sn, pending_sn, retired_count FROM card_key_series ORDER BY n'),
    cards: await sql().all('SELECT * FROM cards ORDER BY id'),
    jobs: printer.jobs.length,
  };
}

const codeOf = (r: Result<unknown>) => (r.ok ? 'ok' : r.error.code);

beforeAll(async () => {
  const mailer = testMailer();
  printer = mailer.printer;
  const chromium = mailer.renderer!;
  // Chromium failing (a crash, a full disk) is simulated at the port: the next render throws.
  const renderer: MailerRenderer = {
    name: 'chromium (may fail)',
    renderPdf: async (html) => {
      if (renderFails) {
        renderFails = false;
        throw new Error('chromium crashed');
      }
      return chromium.renderPdf(html);
    },
    close: () => chromium.close?.() ?? Promise.resolve(),
  };
  const t = await freshWorkstation({ keystoreScryptCost: TEST_COST, mailer: { renderer, printer } });
  ({ ws, dataDir, dispose } = t);
  const officer = await setupOfficer(ws);
  officer2 = await addOperator(ws, 'security_officer');
  await keystoreWithMasterKey(ws, officer, officer2);
  manager = await addOperator(ws, 'manager');
  manager2 = await addOperator(ws, 'manager');
  clerk = await addOperator(ws, 'clerk');
}, 60_000);

afterAll(async () => {
  await dispose();
});

describe('printing a mailer', () => {
  it('renders a real PDF with N, K in the documented format and the serial, sent only to the printer', async () => {
    const { card, customer } = await cardAwaitingActivation(ws, { fullName: 'Erika Mustermann' });
    const r = await call(manager, 'mailer:print', {
      cardRef: card.id,
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    const printed = value(r) as { serial: string; n: string; keySn: number; kind: string };
    expect(printed).toMatchObject({ n: card.n, keySn: 1, kind: 'initial' });
    expect(printed.serial).toMatch(/^M-\d{6}$/);
    expect(JSON.stringify(r)).not.toMatch(KEY_FORMAT);

    expect(printer.jobs).toHaveLength(1);
    const pdf = printer.jobs[0]!.pdf;
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const text = pdfText(pdf);
    expect(text).toContain(card.n);
    expect(text).toContain(printed.serial);
    expect(text).toContain('Erika Mustermann');
    expect(text).toContain(customer.address.line1);
    expect(text).toContain(`${customer.address.postalCode} ${customer.address.city}`);
    const keys = text.match(KEY_FORMAT) ?? [];
    expect(keys).toHaveLength(1);
    // The printed K parses with its check characters and is the card's key of series 1.
    const parsed = parseMailerKey(keys[0]!);
    expect(parsed.ok).toBe(true);
    const state = await ws.keystore.current().cardKeyState(card.n);
    expect(parsed.ok && kcvAes(parsed.key)).toBe(state.kcv);

    const log = value(await call(manager, 'mailer:log', {})) as { rows: Record<string, unknown>[] };
    expect(log.rows[0]).toMatchObject({
      serial: printed.serial,
      n: card.n,
      keySn: 1,
      kind: 'initial',
      operator: manager.username,
      approver: manager2.username,
      result: 'printed',
    });
    const audit = (await auditRows(ws)).filter((a) => a.action === 'mailer.printed');
    expect(audit.at(-1)).toMatchObject({ outcome: 'ok', operator: manager.username, object: card.n });
    expect(JSON.parse(audit.at(-1)!.details)).toMatchObject({ serial: printed.serial, approvedBy: manager2.username });
  });

  it('refuses without an approver, with self-approval, with a clerk or a wrong-action approval, changing nothing', async () => {
    const { card } = await cardAwaitingActivation(ws);
    const before = await snapshot();
    const attempts = [
      { input: { cardRef: card.id }, code: 'APPROVAL_REQUIRED' },
      {
        input: { cardRef: card.id, approval: await approvalFor(ws, manager, 'mailer.print', manager) },
        code: 'APPROVAL_SAME_OPERATOR',
      },
      {
        input: { cardRef: card.id, approval: await approvalFor(ws, manager, 'mailer.print', clerk) },
        code: 'APPROVAL_ROLE',
      },
      {
        input: { cardRef: card.id, approval: await approvalFor(ws, manager, 'mailer.reprint', manager2) },
        code: 'APPROVAL_MISMATCH',
      },
      {
        input: { cardRef: card.id, approval: await approvalFor(ws, manager2, 'mailer.print', manager2) },
        code: 'APPROVAL_STALE', // a challenge another session took
      },
    ];
    for (const a of attempts) expect(codeOf(await call(manager, 'mailer:print', a.input))).toBe(a.code);
    // Only a manager prints: an officer or a clerk is refused before any approval is read.
    expect(codeOf(await call(officer2, 'mailer:print', { cardRef: card.id }))).toBe('FORBIDDEN');
    expect(codeOf(await call(clerk, 'mailer:print', { cardRef: card.id }))).toBe('FORBIDDEN');
    expect(await snapshot()).toEqual(before);
  });

  it('prints a mailer once: a second print, also two at once, is refused with nothing changed', async () => {
    const { card } = await cardAwaitingActivation(ws);
    const [a, b] = await Promise.all([
      approvalFor(ws, manager, 'mailer.print', manager2),
      approvalFor(ws, manager, 'mailer.print', officer2),
    ]);
    const results = await Promise.all([
      call(manager, 'mailer:print', { cardRef: card.id, approval: a }),
      call(manager, 'mailer:print', { cardRef: card.id, approval: b }),
    ]);
    expect(results.map(codeOf).sort()).toEqual(['MAILER_ALREADY_PRINTED', 'ok']);
    const before = await snapshot();
    const again = await call(manager, 'mailer:print', {
      cardRef: card.id,
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    expect(codeOf(again)).toBe('MAILER_ALREADY_PRINTED');
    expect(await snapshot()).toEqual(before);
    expect(
      printer.jobs.filter((j) => j.serial === (value(results.find((r) => r.ok)!) as { serial: string }).serial),
    ).toHaveLength(1);
  });

  it('refuses a first mailer while the card is about to take a new key (its printed K would die)', async () => {
    const { card } = await cardAwaitingActivation(ws);
    await ws.keystore.current().prepareCardKeyRotation(card.n, { operator: 'sam', role: 'support' });
    const before = await snapshot();
    const r = await call(manager, 'mailer:print', {
      cardRef: card.id,
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    expect(codeOf(r)).toBe('MAILER_KEY_CHANGING');
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a card that is not awaiting activation', async () => {
    const { card } = await cardAwaitingActivation(ws);
    await sql().run("UPDATE cards SET state = 'blocked' WHERE id = ?", card.id);
    const before = await snapshot();
    const r = await call(manager, 'mailer:print', {
      cardRef: card.id,
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    expect(codeOf(r)).toBe('MAILER_CARD_STATE');
    expect(await snapshot()).toEqual(before);
  });

  it('a printer that fails mid-job leaves the print uncertain: only a reprint under a new key follows', async () => {
    const { card } = await cardAwaitingActivation(ws);
    printer.failNext = 1;
    const r = await call(manager, 'mailer:print', {
      cardRef: card.id,
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    expect(codeOf(r)).toBe('MAILER_PRINT_UNCERTAIN');
    const rows = await sql().all('SELECT result, error_code FROM mailer_prints WHERE card_ref = ?', card.id);
    expect(rows).toEqual([{ result: 'uncertain', error_code: 'MAILER_PRINTER_FAILED' }]);
    const again = await call(manager, 'mailer:print', {
      cardRef: card.id,
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    expect(codeOf(again)).toBe('MAILER_ALREADY_PRINTED');
  });
});

describe('when something fails before the printer', () => {
  it('a render failure logs the print as failed, K reached no paper, and the mailer may be printed again', async () => {
    const { card } = await cardAwaitingActivation(ws);
    const jobs = printer.jobs.length;
    renderFails = true;
    const r = await call(manager, 'mailer:print', {
      cardRef: card.id,
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    expect(codeOf(r)).toBe('MAILER_RENDER_FAILED');
    expect(printer.jobs.length).toBe(jobs);
    expect(await sql().all('SELECT result, error_code FROM mailer_prints WHERE card_ref = ?', card.id)).toEqual([
      { result: 'failed', error_code: 'MAILER_RENDER_FAILED' },
    ]);
    value(
      await call(manager, 'mailer:print', {
        cardRef: card.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    expect(printer.jobs.length).toBe(jobs + 1);
  });

  it('a locked keystore refuses the print before any approval is used, changing nothing', async () => {
    const { card } = await cardAwaitingActivation(ws);
    const officer = { client: 'officer-desk' } as TestOperator;
    const before = await snapshot();
    value(await ws.router.dispatch(officer.client, 'keys:lock', {}));
    try {
      const r = await call(manager, 'mailer:print', {
        cardRef: card.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      });
      expect(codeOf(r)).toBe('KEYSTORE_LOCKED');
      expect(await snapshot()).toEqual(before);
    } finally {
      value(await ws.router.dispatch(officer.client, 'keys:unlock', { passphrase: KEYSTORE_PASSPHRASE }));
    }
  });
});

describe('reprinting a mailer', () => {
  it('is refused without a reason, or without approval, with nothing changed', async () => {
    const { card } = await cardAwaitingActivation(ws);
    value(
      await call(manager, 'mailer:print', {
        cardRef: card.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    const before = await snapshot();
    for (const reason of [undefined, '', '    ', 'lost']) {
      const r = await call(manager, 'mailer:reprint', {
        cardRef: card.id,
        ...(reason === undefined ? {} : { reason }),
        approval: await approvalFor(ws, manager, 'mailer.reprint', manager2),
      });
      expect(codeOf(r)).toBe('VALIDATION');
    }
    expect(codeOf(await call(manager, 'mailer:reprint', { cardRef: card.id, reason: 'lost in the post' }))).toBe(
      'APPROVAL_REQUIRED',
    );
    const self = await call(manager, 'mailer:reprint', {
      cardRef: card.id,
      reason: 'lost in the post',
      approval: await approvalFor(ws, manager, 'mailer.reprint', manager),
    });
    expect(codeOf(self)).toBe('APPROVAL_SAME_OPERATOR');
    const withPrintApproval = await call(manager, 'mailer:reprint', {
      cardRef: card.id,
      reason: 'lost in the post',
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    expect(codeOf(withPrintApproval)).toBe('APPROVAL_MISMATCH');
    expect(await snapshot()).toEqual(before);
  });

  it('moves the card to its next key series and prints that key; the old K is not on it', async () => {
    const { card } = await cardAwaitingActivation(ws);
    value(
      await call(manager, 'mailer:print', {
        cardRef: card.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    const oldKey = parseMailerKey(pdfText(printer.jobs.at(-1)!.pdf).match(KEY_FORMAT)![0]);
    const r = await call(manager, 'mailer:reprint', {
      cardRef: card.id,
      reason: 'envelope arrived opened',
      approval: await approvalFor(ws, manager, 'mailer.reprint', officer2),
    });
    const reprinted = value(r) as { serial: string; keySn: number; kind: string };
    expect(reprinted).toMatchObject({ keySn: 2, kind: 'reprint' });
    const ks = ws.keystore.current();
    expect(await ks.cardKeyState(card.n)).toMatchObject({ sn: 1, pendingSn: 2 });
    const text = pdfText(printer.jobs.at(-1)!.pdf);
    expect(text).toContain(reprinted.serial);
    const newKey = parseMailerKey(text.match(KEY_FORMAT)![0]);
    expect(newKey.ok && oldKey.ok).toBe(true);
    expect(newKey.ok && kcvAes(newKey.key)).toBe((await ks.cardKey(card.n, 2)).kcv);
    expect(newKey.ok && oldKey.ok && newKey.key.equals(oldKey.key)).toBe(false);
    // Once the card has taken K' (ROTATE KEY at its next presentation), the old K serves nothing.
    await ks.confirmCardKeyRotation(card.n, 2);
    await expect(ks.cardKey(card.n, 1)).rejects.toMatchObject({ code: 'CARD_KEY_RETIRED' });

    const rows = await sql().all(
      'SELECT kind, reason, key_sn, operator, approver, result FROM mailer_prints WHERE card_ref = ? ORDER BY id',
      card.id,
    );
    expect(rows).toEqual([
      {
        kind: 'initial',
        reason: null,
        key_sn: 1,
        operator: manager.username,
        approver: manager2.username,
        result: 'printed',
      },
      {
        kind: 'reprint',
        reason: 'envelope arrived opened',
        key_sn: 2,
        operator: manager.username,
        approver: officer2.username,
        result: 'printed',
      },
    ]);
    const event = (await auditRows(ws)).filter((a) => a.action === 'mailer.reprinted').at(-1);
    expect(event).toMatchObject({ outcome: 'ok', object: card.n });
    expect(JSON.parse(event!.details)).toMatchObject({ reason: 'envelope arrived opened', fromSn: 1, toSn: 2 });
  });

  it('two reprints at once: one moves the card and prints, the other is refused', async () => {
    const { card } = await cardAwaitingActivation(ws);
    value(
      await call(manager, 'mailer:print', {
        cardRef: card.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    const jobs = printer.jobs.length;
    const [a, b] = await Promise.all([
      approvalFor(ws, manager, 'mailer.reprint', manager2),
      approvalFor(ws, manager, 'mailer.reprint', officer2),
    ]);
    const results = await Promise.all([
      call(manager, 'mailer:reprint', { cardRef: card.id, reason: 'lost in the post', approval: a }),
      call(manager, 'mailer:reprint', { cardRef: card.id, reason: 'lost in the post', approval: b }),
    ]);
    expect(results.map(codeOf).sort()).toEqual(['MAILER_ALREADY_PRINTED', 'ok']);
    expect(printer.jobs.length - jobs).toBe(1);
    expect(await ws.keystore.current().cardKeyState(card.n)).toMatchObject({ sn: 1, pendingSn: 2 });
    const live = await sql().get(
      "SELECT count(*) AS n FROM mailer_prints WHERE card_ref = ? AND kind = 'reprint'",
      card.id,
    );
    expect(live).toEqual({ n: 1 });
  });

  it('refuses a second reprint before the card has taken the first one’s key', async () => {
    const { card } = await cardAwaitingActivation(ws);
    value(
      await call(manager, 'mailer:print', {
        cardRef: card.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    value(
      await call(manager, 'mailer:reprint', {
        cardRef: card.id,
        reason: 'lost in the post',
        approval: await approvalFor(ws, manager, 'mailer.reprint', manager2),
      }),
    );
    const before = await snapshot();
    const r = await call(manager, 'mailer:reprint', {
      cardRef: card.id,
      reason: 'lost again',
      approval: await approvalFor(ws, manager, 'mailer.reprint', manager2),
    });
    expect(codeOf(r)).toBe('MAILER_REPRINT_WAITING_FOR_CARD');
    expect(await snapshot()).toEqual(before);
  });
});

describe('the day’s batch', () => {
  it('prints each waiting card on its own, reports progress and a result per mailer; one failure stops nothing', async () => {
    // Settle what earlier tests left waiting, so the batch is exactly these three.
    for (const e of (
      value(await call(manager, 'mailer:queue', {})) as {
        entries: { cardRef: number; mailer: string; state: string }[];
      }
    ).entries) {
      if (e.mailer === 'to-print' && e.state === 'awaiting_activation')
        await sql().run("UPDATE cards SET state = 'blocked' WHERE id = ?", e.cardRef);
    }
    const made = [await cardAwaitingActivation(ws), await cardAwaitingActivation(ws), await cardAwaitingActivation(ws)];
    const progress: unknown[] = [];
    const stop = ws.events.subscribe((name, payload, to) => {
      if (name === 'mailer:progress' && to === manager.client) progress.push(payload);
    });
    printer.failNext = 1;
    const jobsBefore = printer.jobs.length;
    const r = await call(manager, 'mailer:printBatch', {
      approval: await approvalFor(ws, manager, 'mailer.print', manager2),
    });
    stop();
    const out = value(r) as {
      total: number;
      printed: number;
      results: { n: string; result: string; serial: string | null }[];
    };
    expect(out.total).toBe(3);
    expect(out.printed).toBe(2);
    expect(out.results.map((x) => x.n)).toEqual(made.map((m) => m.card.n));
    expect(out.results.map((x) => x.result)).toEqual(['uncertain', 'printed', 'printed']);
    expect(printer.jobs.length - jobsBefore).toBe(2);
    expect(progress.map((p) => (p as { done: number }).done)).toEqual([0, 1, 2, 3]);
    for (const [i, item] of out.results.entries()) {
      if (item.result !== 'printed') continue;
      const job = printer.jobs.find((j) => j.serial === item.serial);
      expect(pdfText(job!.pdf)).toContain(made[i]!.card.n);
    }
    // Nothing left to batch: a second batch is refused.
    expect(
      codeOf(
        await call(manager, 'mailer:printBatch', {
          approval: await approvalFor(ws, manager, 'mailer.print', manager2),
        }),
      ),
    ).toBe('MAILER_BATCH_EMPTY');
  });
});

describe('the day’s batch is the day’s enrollments', () => {
  it('prints today’s enrollments by default, older waiting cards only when asked; the counts come first', async () => {
    const today = await cardAwaitingActivation(ws);
    const older = await cardAwaitingActivation(ws);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await sql().run('UPDATE cards SET enrolled_at = ? WHERE id = ?', twoDaysAgo, older.card.id);
    const counts = async () =>
      (value(await call(manager, 'mailer:queue', {})) as { batch: { today: number; older: number } }).batch;
    expect(await counts()).toEqual({ today: 1, older: 1 });
    const batch = async (olderToo?: boolean) =>
      call(manager, 'mailer:printBatch', {
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
        ...(olderToo === undefined ? {} : { olderToo }),
      });
    const first = value(await batch()) as { total: number; results: { n: string; result: string }[] };
    expect(first.results).toEqual([expect.objectContaining({ n: today.card.n, result: 'printed' })]);
    expect(await counts()).toEqual({ today: 0, older: 1 });
    // Nothing from today left: refused with what to do, nothing printed.
    const jobs = printer.jobs.length;
    const empty = await batch(false);
    expect(empty).toMatchObject({ ok: false, error: { code: 'MAILER_BATCH_EMPTY' } });
    expect(JSON.stringify(empty)).toContain('include older cards');
    expect(printer.jobs.length).toBe(jobs);
    const second = value(await batch(true)) as { results: { n: string; result: string }[] };
    expect(second.results).toEqual([expect.objectContaining({ n: older.card.n, result: 'printed' })]);
    expect(await counts()).toEqual({ today: 0, older: 0 });
    const audited = (await auditRows(ws)).filter((r) => r.action === 'mailer.batch').slice(-2);
    expect(audited.map((r) => (JSON.parse(r.details) as { olderToo: boolean }).olderToo)).toEqual([false, true]);
  });
});

describe('secret scan', () => {
  it('K appears only in the printed PDFs: not in the database (file and WAL, or every row), the logs, the audit or any answer', async () => {
    await ws.checkpoints.idle();
    const keys = printer.jobs.flatMap((j) => pdfText(j.pdf).match(KEY_FORMAT) ?? []);
    expect(keys.length).toBeGreaterThanOrEqual(8);
    const forms = keys.flatMap((k) => {
      const parsed = parseMailerKey(k);
      if (!parsed.ok) throw new Error('a printed key does not parse');
      return [k, k.replace(/-/g, ''), ...encodings(parsed.key)];
    });
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(dataDir);
    const database = await databaseContents(ws, dataDir);
    expect(database.length).toBeGreaterThanOrEqual(1);
    const haystacks = [
      ...files.map((f) => ({ where: f, text: readFileSync(f).toString('latin1') })),
      ...database.map(([where, text]) => ({ where, text })),
      { where: 'audit', text: JSON.stringify(await auditRows(ws)) },
      { where: 'answers', text: JSON.stringify(answers) },
    ];
    const leaks = haystacks.flatMap((h) => forms.filter((f) => h.text.includes(f)).map(() => h.where));
    expect(leaks).toEqual([]);
    // The scan can fail: the PDFs hold the keys it looks for.
    expect(forms.some((f) => printer.jobs.some((j) => pdfText(j.pdf).includes(f)))).toBe(true);
  });
});

import { randomBytes } from 'node:crypto';
import type { Approval } from '../../shared/contract/approval.contract';
import { MAILER_BATCH_MAX } from '../../shared/contract/mailer.contract';
import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { Session } from '../auth/session.store';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import type { CustomerRepository } from '../customers/customer.repository';
import type { Approver, DualControlService } from '../dual-control/dual-control.service';
import { AppError, isAppError } from '../errors';
import type { CardSeriesStore } from '../keystore/card-series.repository';
import type { KeystoreActor, KeystoreHolder } from '../keystore/keystore-holder.service';
import type { Logger } from '../log';
import type {
  LogSort,
  MailerPrintKind,
  MailerPrintLogRepository,
  MailerPrintRecord,
  MailerQueueEntry,
} from './mailer-print-log.repository';
import type { MailerPrinter, MailerRenderer } from './mailer-ports';
import { fillMailer, type MailerTemplate } from './mailer-template';

// The K/N mailer (docs/mailer.md). K leaves the keystore only here, formatted for paper, and goes
// straight into the HTML, the PDF and the printer; the caller gets the serial and N back. The print
// log (migration 0009) holds who printed what and when, never K. Every print is its own reservation
// in the log, decided by the database's unique indexes, so two desks (or two clicks) cannot put one
// key series on paper twice.

export interface MailerServiceDeps {
  readonly cards: CardRepository;
  readonly customers: CustomerRepository;
  readonly prints: MailerPrintLogRepository;
  readonly cardSeries: CardSeriesStore;
  readonly keystore: KeystoreHolder;
  readonly dualControl: DualControlService;
  readonly audit: AuditTrail;
  /** A print log row's result and its 'mailer.printed' entry commit together (repositories.ts). */
  readonly atomically: Atomically;
  readonly log: Logger;
  /** Null where this desk has no way to render (the mailer page says so). */
  readonly renderer: MailerRenderer | null;
  readonly printer: MailerPrinter;
  readonly template: () => MailerTemplate;
  readonly now?: () => Date;
}

export interface MailerPrinted {
  readonly serial: string;
  readonly cardRef: number;
  readonly n: string;
  readonly keySn: number;
  readonly kind: MailerPrintKind;
  readonly destination: string;
}

export type MailerBatchResult = 'printed' | 'failed' | 'uncertain' | 'skipped';

export interface MailerBatchItem {
  readonly cardRef: number;
  readonly n: string;
  readonly customerName: string;
  readonly serial: string | null;
  readonly result: MailerBatchResult;
  readonly code?: string;
  readonly message?: string;
}

export interface MailerBatchProgress {
  readonly batch: string;
  readonly done: number;
  readonly total: number;
  readonly n?: string;
  readonly result?: MailerBatchResult;
}

export type MailerQueueStatus = 'to-print' | 'printed' | 'uncertain' | 'printing';

/** A print that never finished (the desk stopped mid-print) is counted as maybe on paper after this. */
export const PENDING_PRINT_TIMEOUT_MS = 10 * 60_000;
/** One batch prints at most this many (the contract's answer holds a result for each). */
export const BATCH_LIMIT = MAILER_BATCH_MAX;

/** Where the PDF stood when a print failed: before the printer K never reached paper. */
type Stage = 'before-printer' | 'at-printer';

class PrintFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly result: 'failed' | 'uncertain',
    readonly serial: string,
  ) {
    super('mailer print failed');
  }
}

export class MailerService {
  private readonly now: () => Date;

  constructor(private readonly deps: MailerServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  get destination(): string {
    return this.deps.printer.destination;
  }

  get rendererReady(): boolean {
    return this.deps.renderer !== null;
  }

  async queue(): Promise<(Omit<MailerQueueEntry, 'lastResult'> & { mailer: MailerQueueStatus })[]> {
    await this.settleAbandoned();
    const entries = await this.deps.prints.queue({ states: ['awaiting_activation', 'active'] });
    return entries.map(({ lastResult, ...e }) => ({ ...e, mailer: queueStatus(lastResult) }));
  }

  async page(opts: { sort: LogSort; desc: boolean; limit: number; offset: number }) {
    return this.deps.prints.page(opts);
  }

  /** The first mailer of a card awaiting activation, under dual control `mailer.print`. */
  async print(session: Session, input: { cardRef: number; approval?: Approval | undefined }): Promise<MailerPrinted> {
    const card = await this.printable(input.cardRef);
    this.ready();
    const approver = await this.deps.dualControl.require('mailer.print', session, input.approval, {
      cardRef: input.cardRef,
    });
    return this.unwrap(await this.printOne(session, approver, card, { kind: 'initial', reason: null, batch: null }));
  }

  /**
   * A reprint: a security event under dual control `mailer.reprint`, with a reason. The card moves
   * to its next key series (pending until the card takes it at its next presentation), and the new
   * mailer carries that key, so the old mailer's K never serves again (docs/mailer.md).
   */
  async reprint(
    session: Session,
    input: { cardRef: number; reason: string; approval?: Approval | undefined },
  ): Promise<MailerPrinted> {
    const reason = input.reason.trim();
    if (reason.length < 5) {
      throw new AppError('MAILER_REASON_REQUIRED', 'Say why the mailer is reprinted; nothing was printed.');
    }
    const card = await this.card(input.cardRef);
    if (card.state !== 'awaiting_activation' && card.state !== 'active') throw wrongState(card);
    const earlier = (await this.deps.prints.byCard(card.id)).filter(
      (p) => p.result === 'printed' || p.result === 'uncertain',
    );
    if (earlier.length === 0) {
      throw new AppError(
        'MAILER_NOT_PRINTED_YET',
        `Card ${card.n} has no mailer yet: print its first mailer instead; nothing was changed.`,
      );
    }
    const series = await this.series(card);
    if (series.pendingSn !== null && earlier.some((p) => p.keySn === series.pendingSn)) {
      throw new AppError(
        'MAILER_REPRINT_WAITING_FOR_CARD',
        `A reprint for card ${card.n} is already out and the card has not taken its new key yet. ` +
          'Present the card at a desk first; nothing was changed.',
      );
    }
    this.ready();
    const approver = await this.deps.dualControl.require('mailer.reprint', session, input.approval, {
      cardRef: input.cardRef,
      reason,
    });
    const actor = actorOf(session, approver);
    const fromSn = series.sn;
    const rotation = await this.deps.keystore.run(actor, (ks) =>
      ks.prepareCardKeyRotation(card.n, { operator: session.username, role: session.role }),
    );
    const outcome = await this.printOne(session, approver, card, { kind: 'reprint', reason, batch: null });
    await this.deps.audit.append({
      ...auditActor(session),
      action: 'mailer.reprinted',
      object: card.n,
      outcome: outcome instanceof PrintFailure ? 'failed' : 'ok',
      details: {
        cardRef: card.id,
        reason,
        fromSn,
        toSn: rotation.next.sn,
        approvedBy: approver?.username ?? null,
        serial: outcome.serial,
        earlierSerials: earlier.map((p) => p.serial).join(','),
      },
    });
    return this.unwrap(outcome);
  }

  /** Cards waiting for their first mailer, split at the start of this desk's day (the batch's default). */
  async batchCounts(): Promise<{ today: number; older: number }> {
    const { today, older } = await this.waitingByDay();
    return { today: today.length, older: older.length };
  }

  private async waitingByDay(): Promise<{ today: MailerQueueEntry[]; older: MailerQueueEntry[] }> {
    await this.settleAbandoned();
    const waiting = (await this.deps.prints.queue({ states: ['awaiting_activation'] })).filter(
      (e) => e.lastResult === null,
    );
    const dayStart = new Date(this.now());
    dayStart.setHours(0, 0, 0, 0); // the desk's own day: its clerks' enrollments since midnight
    const isToday = (e: MailerQueueEntry) => Date.parse(e.enrolledAt) >= dayStart.getTime();
    return { today: waiting.filter(isToday), older: waiting.filter((e) => !isToday(e)) };
  }

  /**
   * The day's batch (issue 9: the day's enrollments): every card enrolled today awaiting activation
   * with no mailer — with `olderToo`, the earlier ones as well — each printed on its own (its own
   * reservation and its own log row), so one failure does not stop the rest. One approval covers
   * the batch the approver sees; `onProgress` after each mailer.
   */
  async printBatch(
    session: Session,
    input: { approval?: Approval | undefined; olderToo?: boolean | undefined },
    onProgress: (p: MailerBatchProgress) => void,
  ): Promise<{ batch: string; total: number; printed: number; results: MailerBatchItem[] }> {
    const { today, older } = await this.waitingByDay();
    const todo = (input.olderToo ? [...older, ...today] : today).slice(0, BATCH_LIMIT);
    if (todo.length === 0) {
      throw new AppError(
        'MAILER_BATCH_EMPTY',
        older.length > 0
          ? `No card enrolled today is waiting for its mailer; ${older.length} from earlier days are: include older cards to print them. Nothing was printed.`
          : 'No card is waiting for its first mailer. Nothing was printed.',
      );
    }
    this.ready();
    const approver = await this.deps.dualControl.require('mailer.print', session, input.approval, {
      batch: todo.map((e) => e.cardRef),
      olderToo: input.olderToo === true,
    });
    const batch = `B-${this.now().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
    const results: MailerBatchItem[] = [];
    onProgress({ batch, done: 0, total: todo.length });
    for (const entry of todo) {
      const base = { cardRef: entry.cardRef, n: entry.n, customerName: entry.customerName };
      let item: MailerBatchItem;
      try {
        // Read again: another desk may have printed it or the card may have moved since the list was made.
        const card = await this.printable(entry.cardRef);
        const outcome = await this.printOne(session, approver, card, { kind: 'initial', reason: null, batch });
        item =
          outcome instanceof PrintFailure
            ? { ...base, serial: outcome.serial, result: outcome.result, ...errorFields(outcome.error) }
            : { ...base, serial: outcome.serial, result: 'printed' };
      } catch (err) {
        if (!isAppError(err)) throw err;
        item = { ...base, serial: null, result: 'skipped', ...errorFields(err) };
      }
      results.push(item);
      onProgress({ batch, done: results.length, total: todo.length, n: entry.n, result: item.result });
    }
    const printed = results.filter((r) => r.result === 'printed').length;
    await this.deps.audit.append({
      ...auditActor(session),
      action: 'mailer.batch',
      object: batch,
      outcome: printed === results.length ? 'ok' : 'failed',
      details: {
        total: results.length,
        printed,
        olderToo: input.olderToo === true,
        approvedBy: approver?.username ?? null,
      },
    });
    return { batch, total: results.length, printed, results };
  }

  /** One mailer, reserved, rendered and sent. Resolves with the print, or the failure already logged. */
  private async printOne(
    session: Session,
    approver: Approver | null,
    card: CardRecord,
    how: { kind: MailerPrintKind; reason: string | null; batch: string | null },
  ): Promise<MailerPrinted | PrintFailure> {
    const { prints, renderer, printer } = this.deps;
    const series = await this.series(card);
    const keySn = how.kind === 'reprint' ? series.pendingSn : series.sn;
    if (keySn === null) throw new Error('reprint without a pending series');
    const reserved = await prints.reserve({
      cardRef: card.id,
      n: card.n,
      keySn,
      kind: how.kind,
      reason: how.reason,
      operator: session.username,
      approver: approver?.username ?? null,
      batch: how.batch,
      at: this.now().toISOString(),
    });
    if (!reserved) throw alreadyPrinted(card);
    let stage: Stage = 'before-printer';
    try {
      if (!renderer) throw rendererMissing();
      const customer = await this.deps.customers.get(card.customerId);
      if (!customer) throw new AppError('MAILER_NO_CUSTOMER', `Card ${card.n} has no customer record.`);
      const key = await this.deps.keystore.run(actorOf(session, approver), (ks) =>
        ks.formatCustomerKeyForMailer(card.n, {
          operator: session.username,
          role: session.role,
          reason: `mailer ${reserved.serial} (${how.kind})`,
          series: how.kind === 'reprint' ? 'pending' : 'current',
        }),
      );
      if (key.sn !== keySn) {
        throw new AppError(
          'MAILER_SERIES_MOVED',
          `Card ${card.n}'s key series changed during the print. Print the mailer again.`,
        );
      }
      const html = fillMailer(this.deps.template(), {
        serial: reserved.serial,
        date: this.now().toISOString().slice(0, 10),
        n: card.n,
        cardId: card.cardId,
        keySeries: keySn,
        formattedKey: key.formatted,
        customerName: customer.fullName,
        address: customer.address,
      });
      const pdf = await renderer.renderPdf(html);
      stage = 'at-printer';
      try {
        await printer.print(pdf, { serial: reserved.serial });
      } finally {
        pdf.fill(0); // the printer has its copy; this desk keeps none
      }
      // If this unit fails the printer has the mailer: the catch below logs it uncertain.
      const finishedAt = this.now().toISOString();
      await this.deps.atomically(async (tx) => {
        await tx.repos.mailerPrints.finish(reserved.id, 'printed', finishedAt, null);
        await tx.audit.append({
          ...auditActor(session),
          action: 'mailer.printed',
          object: card.n,
          outcome: 'ok',
          details: {
            serial: reserved.serial,
            cardRef: card.id,
            kind: how.kind,
            keySn,
            approvedBy: approver?.username ?? null,
            destination: printer.destination,
            batch: how.batch,
          },
        });
      });
      return {
        serial: reserved.serial,
        cardRef: card.id,
        n: card.n,
        keySn,
        kind: how.kind,
        destination: printer.destination,
      };
    } catch (err) {
      // Before the printer K never reached paper: the card may simply be printed again. At the
      // printer it may have: only a reprint under a new series may follow.
      const result = stage === 'at-printer' ? 'uncertain' : 'failed';
      const code = isAppError(err)
        ? err.code
        : stage === 'at-printer'
          ? 'MAILER_PRINTER_FAILED'
          : 'MAILER_RENDER_FAILED';
      this.deps.log.error('mailer print failed', { serial: reserved.serial, n: card.n, code, stage });
      const finishedAt = this.now().toISOString();
      await this.deps.atomically(async (tx) => {
        await tx.repos.mailerPrints.finish(reserved.id, result, finishedAt, code);
        await tx.audit.append({
          ...auditActor(session),
          action: 'mailer.printed',
          object: card.n,
          outcome: 'failed',
          details: { serial: reserved.serial, cardRef: card.id, kind: how.kind, keySn, code, result },
        });
      });
      return new PrintFailure(err, result, reserved.serial);
    }
  }

  private unwrap(outcome: MailerPrinted | PrintFailure): MailerPrinted {
    if (!(outcome instanceof PrintFailure)) return outcome;
    if (outcome.result === 'uncertain') {
      throw new AppError(
        'MAILER_PRINT_UNCERTAIN',
        `Mailer ${outcome.serial} may be partly printed. Destroy any output, then reprint it with a reason.`,
      );
    }
    const cause = outcome.error;
    if (isAppError(cause)) throw cause;
    throw new AppError(
      'MAILER_RENDER_FAILED',
      `Mailer ${outcome.serial} could not be rendered; nothing was printed. Try again, or call support.`,
    );
  }

  private async card(cardRef: number): Promise<CardRecord> {
    const card = await this.deps.cards.byId(cardRef);
    if (!card) throw new AppError('MAILER_CARD_UNKNOWN', 'There is no such card. Refresh the mailer queue.');
    return card;
  }

  /** A card whose first mailer may be printed now, or the reason it may not. */
  private async printable(cardRef: number): Promise<CardRecord> {
    const card = await this.card(cardRef);
    if (card.state !== 'awaiting_activation') throw wrongState(card);
    const live = (await this.deps.prints.byCard(card.id)).some((p) => p.result !== 'failed');
    if (live) throw alreadyPrinted(card);
    // A key printed now would be replaced when the card takes the pending series: print after that.
    if ((await this.series(card)).pendingSn !== null) {
      throw new AppError(
        'MAILER_KEY_CHANGING',
        `Card ${card.n} is about to take a new key. Present the card at a desk first, then print its mailer; nothing was printed.`,
      );
    }
    return card;
  }

  private async series(card: CardRecord) {
    this.deps.keystore.current(); // locked is the more useful answer
    const s = await this.deps.cardSeries.get(card.n);
    if (!s) {
      throw new AppError(
        'MAILER_NO_CARD_KEY',
        `Card ${card.n} has no card key yet: finish its enrollment first; nothing was printed.`,
      );
    }
    return s;
  }

  private ready(): void {
    if (!this.deps.renderer) throw rendererMissing();
  }

  /** Prints a stopped desk left `pending` count as maybe on paper (only a reprint may follow). */
  private async settleAbandoned(): Promise<void> {
    const now = this.now();
    await this.deps.prints.abandonPending(
      new Date(now.getTime() - PENDING_PRINT_TIMEOUT_MS).toISOString(),
      now.toISOString(),
    );
  }
}

function queueStatus(last: MailerPrintRecord['result'] | null): MailerQueueStatus {
  if (last === 'printed') return 'printed';
  if (last === 'uncertain') return 'uncertain';
  if (last === 'pending') return 'printing';
  return 'to-print';
}

const actorOf = (s: Session, approver: Approver | null): KeystoreActor => ({
  operatorId: s.operatorId,
  operator: s.username,
  role: s.role,
  ...(approver ? { approvedBy: approver.username } : {}),
});

const auditActor = (s: Session) => ({ operatorId: s.operatorId, operator: s.username, role: s.role });

function errorFields(err: unknown): { code: string; message: string } {
  if (isAppError(err)) return { code: err.code, message: err.message.slice(0, 300) };
  return { code: 'MAILER_RENDER_FAILED', message: 'The mailer could not be rendered; nothing was printed.' };
}

function wrongState(card: CardRecord): AppError {
  const why: Record<CardRecord['state'], string> = {
    enrolling: 'is still being enrolled: finish its enrollment first',
    awaiting_activation: 'is awaiting activation',
    active: 'is active already: a lost mailer is replaced by a reprint',
    blocked: 'is blocked: unblock or replace it first',
    terminated: 'is terminated: it gets no mailer',
  };
  return new AppError('MAILER_CARD_STATE', `Card ${card.n} ${why[card.state]}. Nothing was printed.`);
}

function alreadyPrinted(card: CardRecord): AppError {
  return new AppError(
    'MAILER_ALREADY_PRINTED',
    `Card ${card.n}'s mailer has been printed already. A mailer is printed once; if it is lost, reprint it with a reason.`,
  );
}

function rendererMissing(): AppError {
  return new AppError(
    'MAILER_RENDERER_UNAVAILABLE',
    'This desk cannot render mailers (no Chromium). Print mailers on a desk that can; nothing was printed.',
  );
}

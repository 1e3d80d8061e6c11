import type { Approval } from '../../shared/contract/approval.contract';
import type { CardInReader, NextAction } from '../../shared/contract/activation.contract';
import type { AuditActor, AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { Session } from '../auth/session.store';
import { patiently, whileCardBusy } from '../card/while-busy';
import { isCardError } from '../card/card-error';
import type { CardState as CardReport } from '../card/protocol/card-responses';
import { OtacCard } from '../card/protocol/card-session';
import type { LifeCycle } from '../card/protocol/profile.constants';
import type { CardReaderService } from '../card/reader.types';
import { triesLeft } from '../card/status-words';
import type { CardRecord, CardRepository, CardState } from '../cards/card.repository';
import { kcvAes } from '../crypto/kcv';
import { parseMailerKey, type MailerKeyParse } from '../crypto/mailer-key-format';
import type { CustomerRepository } from '../customers/customer.repository';
import type { DualControlService } from '../dual-control/dual-control.service';
import { AppError } from '../errors';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import type { Keystore } from '../keystore/keystore.types';
import type { Logger } from '../log';

// Activation at the desk, manager unblock and card-key rotation, each with the card in a reader
// (docs/activation.md). The card is the authority on what happened to it: every presentation
// first reads its state and records in the database what the card did but the desk missed (an
// answer lost to a pulled card), so card and database agree and a retry finishes the job.
// K typed by the cardholder is parsed here, sent in ACTIVATE and wiped; it is never logged,
// audited, stored or put in an answer or error message.

/** What runs once a card is active: the first list (source 001 [0022]) is connected here. */
export interface ActivatedCard {
  readonly reader: string;
  readonly cardRecordId: number;
  readonly cardId: string;
  readonly n: string;
  readonly customerId: number;
  readonly actor: KeystoreActor;
  /** True when an earlier, interrupted attempt had activated the card: a step already done may be done. */
  readonly completedEarlier: boolean;
  /** The window that asked, so a step that takes time (the first push) can send it progress. */
  readonly clientId?: string;
}
export type AfterActivationHook = (card: ActivatedCard) => Promise<{ message: string } | void>;

/** A card the desk has just read (card page, activation, unblock, rotation), before anything else is done with it. */
export interface PresentedCard {
  readonly card: OtacCard;
  readonly report: CardReport;
  readonly record: CardRecord;
  /** Null while the keystore is locked (the card page still reads cards then). */
  readonly keystore: Keystore | null;
  readonly actor: KeystoreActor;
}
/**
 * What must happen to a card as soon as it is presented (a replaced card is terminated): the card's
 * state and record afterwards and what was done, or null when the hook left the card alone.
 */
export type OnPresentedHook = (
  card: PresentedCard,
) => Promise<{ report: CardReport; record: CardRecord; note: string } | null>;

export interface ActivationDeps {
  readonly readers: CardReaderService | null;
  /** The open keystore, acting for a named operator (KeystoreHolder.run). */
  readonly keystore: {
    run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T;
    /** True while the keystore is locked (KeystoreHolder: currentOrNull() === null). */
    locked?: () => boolean;
  };
  readonly cards: CardRepository;
  readonly customers: CustomerRepository;
  readonly dualControl: Pick<DualControlService, 'require'>;
  readonly audit: Pick<AuditTrail, 'append'>;
  /** A card row's move and its entry commit together (repositories.ts); never around card I/O. */
  readonly atomically: Atomically;
  readonly log: Logger;
  /** Re-reads a reader for the status bar after a workflow changed its card. */
  readonly refreshReader?: (reader: string) => Promise<void>;
  readonly now?: () => Date;
}

const PIN_FORMAT = /^[0-9]{4,8}$/;

/** The database state that matches what the card reports, for the states a card workflow moves. */
const DB_STATE_OF: Partial<Record<LifeCycle, CardState>> = {
  personalised: 'awaiting_activation',
  active: 'active',
  blocked: 'blocked',
  terminated: 'terminated',
};
// 'enrolling' belongs to enrollment, which finishes its own job; this module never moves it.
const RECONCILABLE: readonly CardState[] = ['awaiting_activation', 'active', 'blocked'];

interface Presented {
  readonly card: OtacCard;
  readonly report: CardReport;
  readonly record: CardRecord;
  readonly reconciled: string[];
  /** A rotation this presentation finished: the key version the card moved to. */
  readonly rotationRecovered: { from: number; to: number } | null;
  /** A pending series (a reprint's, or a rotation stopped before ROTATE KEY) this presentation sent the card. */
  readonly pendingTaken: { from: number; to: number } | null;
}

export class ActivationService {
  private readonly hooks: { name: string; run: AfterActivationHook }[] = [];
  private readonly presentHooks: { name: string; run: OnPresentedHook }[] = [];

  constructor(private readonly deps: ActivationDeps) {}

  /**
   * The seam for what must follow activation at once (the first list). The coordinator connects the
   * list/push feature here; a hook's failure is reported in the answer and logged, and never undoes
   * the activation (the card is active; the list follows at the next presentation).
   */
  afterActivation(name: string, run: AfterActivationHook): () => void {
    const entry = { name, run };
    this.hooks.push(entry);
    return () => {
      const i = this.hooks.indexOf(entry);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /**
   * The seam for what must happen to a card the moment a desk reads it, before reconciliation or any
   * workflow (the reissue terminates a replaced card here). A hook that acts ends the presentation's
   * own steps: the card it leaves is what the workflow sees.
   */
  onPresented(name: string, run: OnPresentedHook): () => void {
    const entry = { name, run };
    this.presentHooks.push(entry);
    return () => {
      const i = this.presentHooks.indexOf(entry);
      if (i >= 0) this.presentHooks.splice(i, 1);
    };
  }

  async inReader(reader: string, session: Session): Promise<CardInReader> {
    const readers = this.readersOrFail();
    const slot = readers.snapshot().readers.find((r) => r.name === reader);
    if (!slot) {
      throw new AppError('READER_NOT_FOUND', `There is no reader named ${reader}. Choose a reader from the list.`);
    }
    if (!slot.cardPresent) {
      return empty(reader, 'insert-card', 'No card in this reader. Insert the customer’s card, chip first.');
    }
    // The card page still shows the card while the keystore is locked; only a rotation left half
    // done waits for it (finishing one needs a session under K').
    const read = (ks: Keystore | null) =>
      whileCardBusy(() =>
        readers.withCard(reader, async (t) => {
          const card = new OtacCard(t);
          await card.select();
          const report = await card.getState();
          const found = await this.deps.cards.byCardId(report.cardId.toUpperCase());
          const cardView = viewOf(report);
          if (!found) {
            const blank = report.lifeCycle === 'blank';
            return {
              reader,
              card: cardView,
              record: null,
              nextAction: blank ? 'enroll' : 'none',
              note: blank
                ? 'A blank card from stock: enroll it for a customer first.'
                : 'This card is not enrolled at this desk. Check that it is the customer’s card, or ask support.',
              reconciled: [],
            } satisfies CardInReader;
          }
          const p = await this.present(card, report, found, ks, session);
          const customer = await this.deps.customers.get(p.record.customerId);
          const { nextAction, note } = advice(p.record, p.report);
          return {
            reader,
            card: viewOf(p.report),
            record: {
              id: p.record.id,
              n: p.record.n,
              state: p.record.state,
              customerId: p.record.customerId,
              customerName: customer?.fullName ?? '(customer record missing)',
              activatedAt: p.record.activatedAt,
              sealMode: p.record.sealMode,
            },
            nextAction,
            note,
            reconciled: p.reconciled,
          } satisfies CardInReader;
        }),
      );
    return this.deps.keystore.locked?.() ? read(null) : this.withActor(session, null, read);
  }

  async activate(
    input: { reader: string; key: string; pin: string; pinRepeat: string },
    session: Session,
    clientId?: string,
  ): Promise<{
    cardId: string;
    n: string;
    state: 'active';
    completedEarlier: boolean;
    followUps: { name: string; ok: boolean; message: string }[];
  }> {
    checkPin(input.pin, input.pinRepeat, 'pin');
    // The check characters first: a typo must cost the cardholder no try on the card.
    const parsed = parseMailerKey(input.key);
    if (!parsed.ok) throw typoError(parsed);
    const key = parsed.key;
    const readers = this.readersOrFail();
    try {
      const done = await this.withActor(session, null, (ks) =>
        patiently(readers, reader(input), async (t) => {
          const p = await this.open(t, ks, session);
          if (p.record.state === 'active' || p.report.lifeCycle === 'active') {
            // Done before: an earlier attempt activated the card and its answer (or our write) was
            // lost. The same K typed again finishes the job; KCVs are public fingerprints, so the
            // comparison tells nothing a mailer holder does not already know.
            const current = await ks.cardKeyState(p.record.n);
            if (p.report.lifeCycle === 'active' && kcvAes(key) === current.kcv)
              return { record: p.record, completedEarlier: true };
            throw new AppError('CARD_ALREADY_ACTIVE', 'This card is already active. Nothing to do.');
          }
          if (p.record.state === 'blocked' || p.report.lifeCycle === 'blocked')
            throw new AppError(
              'CARD_BLOCKED',
              'This card is blocked. A manager must unblock it, with a second approver, before it can be activated.',
            );
          if (p.record.state !== 'awaiting_activation' || p.report.lifeCycle !== 'personalised')
            throw new AppError(
              'CARD_NOT_AWAITING_ACTIVATION',
              `This card cannot be activated now (${p.report.lifeCycle}). Finish its enrollment first.`,
            );
          // After a reprint (or any key change) an earlier mailer's K is refused here, by its public
          // check value, before it can cost the card a try (docs/mailer.md). A card whose key never
          // changed counts wrong keys itself.
          const keys = await ks.cardKeyState(p.record.n);
          if (keys.retiredSns > 0 && kcvAes(key) !== keys.kcv) {
            await this.audit(session, 'activation.activate', p.record, 'denied', { reason: 'replaced-mailer-key' });
            throw new AppError(
              'ACTIVATION_KEY_REPLACED',
              'This is not the key of the card’s latest mailer: the mailer was reprinted, and only the reprinted mailer’s key activates the card. No card try was used.',
            );
          }
          try {
            await p.card.activate(key, input.pin);
          } catch (err) {
            throw await this.activationRefused(err, p, session);
          }
          // The card is active; its row and the entry now, together.
          const record = await this.deps.atomically(async (tx) => {
            const moved = await tx.repos.cards.transition(p.record.id, ['awaiting_activation'], 'active', this.at());
            const now = moved ?? (await tx.repos.cards.byId(p.record.id)) ?? p.record;
            await this.audit(session, 'activation.activate', now, 'ok', { completedEarlier: false }, tx.audit);
            return now;
          });
          return { record, completedEarlier: false };
        }),
      );
      if (done.completedEarlier)
        await this.audit(session, 'activation.activate', done.record, 'ok', { completedEarlier: true });
      await this.refresh(input.reader);
      const followUps = await this.runHooks({
        reader: input.reader,
        cardRecordId: done.record.id,
        cardId: done.record.cardId,
        n: done.record.n,
        customerId: done.record.customerId,
        actor: actorOf(session, null),
        completedEarlier: done.completedEarlier,
        ...(clientId !== undefined ? { clientId } : {}),
      });
      return {
        cardId: done.record.cardId,
        n: done.record.n,
        state: 'active',
        completedEarlier: done.completedEarlier,
        followUps,
      };
    } finally {
      key.fill(0);
    }
  }

  async unblock(
    input: { reader: string; newPin?: string | undefined; approval?: Approval | undefined },
    session: Session,
  ): Promise<{ cardId: string; n: string; state: string; approvedBy: string | null }> {
    if (input.newPin !== undefined) checkPin(input.newPin, input.newPin, 'newPin');
    const readers = this.readersOrFail();
    const result = await this.withActor(session, null, (ks) =>
      patiently(readers, reader(input), async (t) => {
        const p = await this.open(t, ks, session);
        if (p.report.lifeCycle !== 'blocked')
          throw new AppError('CARD_NOT_BLOCKED', 'This card is not blocked. Nothing to unblock.');
        if (input.newPin !== undefined && p.record.activatedAt === null)
          throw new AppError(
            'UNBLOCK_PIN_NOT_ALLOWED',
            'This card was never activated: unblock it without a PIN; the cardholder chooses one at activation.',
          );
        // Refusals that need no second person came first; now the approval, before anything changes.
        const approver = await this.deps.dualControl.require('card.unblock', session, input.approval, {
          reader: input.reader,
          cardId: p.record.cardId,
          n: p.record.n,
          newPin: input.newPin === undefined ? 'no' : 'yes',
        });
        const port = new KeystoreCardKeyPort(ks);
        const sm = await p.card.openSecureChannel(port, await port.cardKey(p.record.n), p.report.keyVersion);
        await sm.resetRetryCounter(input.newPin);
        const after = await p.card.getState();
        const to = DB_STATE_OF[after.lifeCycle] ?? 'awaiting_activation';
        const record = await this.deps.atomically(async (tx) => {
          const moved = await tx.repos.cards.transition(p.record.id, ['blocked'], to, this.at());
          const now = moved ?? (await tx.repos.cards.byId(p.record.id)) ?? p.record;
          await this.audit(
            session,
            'activation.unblock',
            now,
            'ok',
            {
              returnedTo: now.state,
              newPin: input.newPin === undefined ? 'no' : 'yes',
              ...(approver ? { approvedBy: approver.username } : {}),
            },
            tx.audit,
          );
          return now;
        });
        return { record, approver };
      }),
    );
    await this.refresh(input.reader);
    return {
      cardId: result.record.cardId,
      n: result.record.n,
      state: result.record.state,
      approvedBy: result.approver?.username ?? null,
    };
  }

  /**
   * K → K' (source 000 claims 4, 5): K' goes to the card under a session opened with K, the card
   * proves it holds K' by opening a session under it, and only then does the keystore make K' current.
   * A card pulled in between is finished at its next presentation (present()).
   */
  async rotateKey(
    input: { reader: string },
    session: Session,
  ): Promise<{ cardId: string; n: string; fromVersion: number; toVersion: number; recovered: boolean }> {
    const readers = this.readersOrFail();
    const result = await this.withActor(session, null, (ks) =>
      patiently(readers, reader(input), async (t) => {
        const p = await this.open(t, ks, session);
        if (p.rotationRecovered) {
          return { record: p.record, from: p.rotationRecovered.from, to: p.rotationRecovered.to, recovered: true };
        }
        if (p.pendingTaken) {
          // The rotation prepared earlier went to the card as the first step of this presentation.
          return { record: p.record, from: p.pendingTaken.from, to: p.pendingTaken.to, recovered: false };
        }
        if (p.report.lifeCycle !== 'personalised' && p.report.lifeCycle !== 'active')
          throw new AppError(
            'CARD_STATE_NO_ROTATION',
            `The card key cannot be changed in this state (${p.report.lifeCycle}). Unblock the card first.`,
          );
        const keys = await ks.cardKeyState(p.record.n);
        if (keys.sn !== p.report.keyVersion)
          throw new AppError(
            'CARD_KEY_VERSION_MISMATCH',
            `The card holds key version ${p.report.keyVersion}, the keystore expects ${keys.sn}. Do not retry; ask a security officer.`,
          );
        const proof = await rotateOnCard(p.card, ks, p.record.n, p.report.keyVersion, session);
        return { record: p.record, from: p.report.keyVersion, to: proof.keyVersion, recovered: false };
      }),
    );
    await this.audit(session, 'cards.rotate_key', result.record, 'ok', {
      fromVersion: result.from,
      toVersion: result.to,
      recovered: result.recovered,
    });
    await this.refresh(input.reader);
    return {
      cardId: result.record.cardId,
      n: result.record.n,
      fromVersion: result.from,
      toVersion: result.to,
      recovered: result.recovered,
    };
  }

  /** SELECT, GET STATE, the database record, then what the card did that the desk missed. */
  private async open(t: Parameters<Parameters<CardReaderService['withCard']>[1]>[0], ks: Keystore, session: Session) {
    const card = new OtacCard(t);
    await card.select();
    const report = await card.getState();
    const record = await this.deps.cards.byCardId(report.cardId.toUpperCase());
    if (!record) {
      throw new AppError(
        'CARD_NOT_ENROLLED',
        report.lifeCycle === 'blank'
          ? 'This is a blank card: enroll it for a customer first.'
          : 'This card is not enrolled at this desk. Check that it is the customer’s card, or ask support.',
      );
    }
    return this.present(card, report, record, ks, session);
  }

  private async present(
    card: OtacCard,
    firstReport: CardReport,
    found: CardRecord,
    ks: Keystore | null,
    session: Session,
  ): Promise<Presented> {
    if (firstReport.n !== undefined && firstReport.n !== found.n) {
      throw new AppError(
        'CARD_MISMATCH',
        'The card in the reader does not match its enrollment record. Set it aside and ask support.',
      );
    }
    for (const hook of this.presentHooks) {
      const acted = await hook.run({
        card,
        report: firstReport,
        record: found,
        keystore: ks,
        actor: actorOf(session, null),
      });
      if (acted) {
        return {
          card,
          report: acted.report,
          record: acted.record,
          reconciled: [acted.note],
          rotationRecovered: null,
          pendingTaken: null,
        };
      }
    }
    let report = firstReport;
    let record = found;
    const reconciled: string[] = [];
    let rotationRecovered: Presented['rotationRecovered'] = null;
    let pendingTaken: Presented['pendingTaken'] = null;

    // A rotation cut off after the card's ROTATE KEY: the card holds the pending K'. Only a
    // session under K' (its cryptogram verified) counts as proof, never the plain version byte.
    const keys = ks ? await ks.cardKeyState(record.n) : null;
    if (ks && keys && keys.pendingSn !== null && report.keyVersion === keys.pendingSn) {
      const port = new KeystoreCardKeyPort(ks);
      const pending = await port.cardKey(record.n, keys.pendingSn);
      const proof = await (await card.openSecureChannel(port, pending, keys.pendingSn)).readState();
      await ks.confirmCardKeyRotation(record.n, keys.pendingSn);
      rotationRecovered = { from: keys.sn, to: keys.pendingSn };
      report = proof;
      reconciled.push(`key version ${keys.sn} → ${keys.pendingSn} (rotation finished)`);
      await this.audit(session, 'cards.rotate_key.recovered', record, 'ok', {
        fromVersion: keys.sn,
        toVersion: keys.pendingSn,
      });
    } else if (
      ks &&
      keys &&
      keys.pendingSn !== null &&
      report.keyVersion === keys.sn &&
      (report.lifeCycle === 'personalised' || report.lifeCycle === 'active')
    ) {
      // A reprinted mailer carries the pending series' K' and the card still holds K: the rotation
      // is the first thing done with the card (docs/mailer.md, "How the card learns the new key"),
      // before any ACTIVATE, list or view, so the old mailer's K never serves again.
      const from = report.keyVersion;
      report = await rotateOnCard(card, ks, record.n, from, session, keys.pendingSn);
      pendingTaken = { from, to: report.keyVersion };
      reconciled.push(`key version ${from} → ${report.keyVersion} (the pending key series)`);
      await this.audit(session, 'cards.rotate_key.pending_taken', record, 'ok', {
        fromVersion: from,
        toVersion: report.keyVersion,
      });
    }

    const want = DB_STATE_OF[report.lifeCycle];
    if (want && want !== record.state && RECONCILABLE.includes(record.state)) {
      const from = record.state;
      const moved = await this.deps.atomically(async (tx) => {
        const m = await tx.repos.cards.transition(record.id, [from], want, this.at());
        if (m) await this.audit(session, 'cards.state_reconciled', m, 'ok', { from, to: want }, tx.audit);
        return m;
      });
      if (moved) {
        reconciled.push(`${from} → ${want}`);
        record = moved;
      } else {
        record = (await this.deps.cards.byId(record.id)) ?? record;
      }
    }
    return { card, report, record, reconciled, rotationRecovered, pendingTaken };
  }

  /** A wrong K: the tries left from the card's own answer; at zero the card is blocked, and so is the record. */
  private async activationRefused(err: unknown, p: Presented, session: Session): Promise<unknown> {
    if (!isCardError(err) || (err.code !== 'CARD_ACTIVATION_KEY_WRONG' && err.code !== 'CARD_BLOCKED')) return err;
    const left = err.sw === undefined ? undefined : (triesLeft(err.sw) ?? 0);
    await this.deps.atomically(async (tx) => {
      if (left === 0 || err.code === 'CARD_BLOCKED')
        await tx.repos.cards.transition(p.record.id, ['awaiting_activation'], 'blocked', this.at());
      await this.audit(
        session,
        'activation.activate',
        p.record,
        'denied',
        { reason: 'wrong-key', triesLeft: left ?? 0 },
        tx.audit,
      );
    });
    if (left !== undefined && left > 0) {
      return new AppError(
        'ACTIVATION_KEY_WRONG',
        `The card refused this activation key: ${left} ${left === 1 ? 'try' : 'tries'} left. Check every group against the mailer and type it again.`,
        { triesLeft: left },
      );
    }
    return new AppError(
      'ACTIVATION_BLOCKED',
      'The card refused this activation key and is now blocked. A manager must unblock it, with a second approver, on the card page.',
      { triesLeft: 0 },
    );
  }

  private async runHooks(card: ActivatedCard): Promise<{ name: string; ok: boolean; message: string }[]> {
    const out: { name: string; ok: boolean; message: string }[] = [];
    for (const hook of [...this.hooks]) {
      try {
        const r = await hook.run(card);
        out.push({ name: hook.name, ok: true, message: (r?.message ?? 'Done.').slice(0, 300) });
      } catch (err) {
        const message =
          err instanceof AppError ? err.message : 'It did not finish; it will be completed at the next presentation.';
        this.deps.log.warn('after-activation step failed', {
          step: hook.name,
          error: err instanceof AppError ? err.code : err instanceof Error ? err.name : 'unknown',
        });
        out.push({ name: hook.name, ok: false, message: message.slice(0, 300) });
      }
    }
    return out;
  }

  private withActor<T>(session: Session, approvedBy: string | null, fn: (ks: Keystore) => Promise<T>): Promise<T> {
    return this.deps.keystore.run(actorOf(session, approvedBy), fn);
  }

  private readersOrFail(): CardReaderService {
    if (!this.deps.readers)
      throw new AppError(
        'READER_NONE',
        'This workstation runs without card readers. Start it with a reader (or in training mode) to serve cards.',
      );
    return this.deps.readers;
  }

  private async refresh(reader: string): Promise<void> {
    try {
      await this.deps.refreshReader?.(reader);
    } catch {
      // Only the status bar's picture; the next reader event corrects it.
    }
  }

  private audit(
    session: Session,
    action: string,
    record: CardRecord,
    outcome: 'ok' | 'denied',
    details: Record<string, string | number | boolean>,
    sink: Pick<AuditTrail, 'append'> = this.deps.audit,
  ): Promise<void> {
    const who: AuditActor = { operatorId: session.operatorId, operator: session.username, role: session.role };
    return sink.append({
      ...who,
      action,
      object: record.n,
      outcome,
      details: { cardId: record.cardId, customerId: record.customerId, ...details },
    });
  }

  private at(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }
}

function reader(input: { reader: string }): string {
  return input.reader;
}

function actorOf(session: Session, approvedBy: string | null): KeystoreActor {
  return {
    operatorId: session.operatorId,
    operator: session.username,
    role: session.role,
    ...(approvedBy ? { approvedBy } : {}),
  };
}

function checkPin(pin: string, repeat: string, field: 'pin' | 'newPin'): void {
  if (!PIN_FORMAT.test(pin)) {
    throw new AppError('PIN_FORMAT', 'The PIN must be 4 to 8 digits. Ask the cardholder to choose another.', {
      fields: JSON.stringify({ [field]: 'The PIN is 4 to 8 digits' }),
    });
  }
  if (pin !== repeat) {
    throw new AppError('PIN_MISMATCH', 'The two PIN entries differ. Ask the cardholder to type the PIN twice again.', {
      fields: JSON.stringify({ pinRepeat: 'Does not match the PIN' }),
    });
  }
}

/** Names where the typo is, never what was typed. */
function typoError(p: Extract<MailerKeyParse, { ok: false }>): AppError {
  const groups = p.badGroups.join(', ');
  const plural = p.badGroups.length > 1;
  const message =
    p.reason === 'length'
      ? 'The activation key is 7 groups of 5 characters: a character is missing or extra. Compare it with the mailer.'
      : p.reason === 'character'
        ? `Group${plural ? 's' : ''} ${groups} ${plural ? 'hold' : 'holds'} a character that is not on the mailer. Compare ${plural ? 'them' : 'it'} with the mailer.`
        : p.reason === 'group'
          ? `Group${plural ? 's' : ''} ${groups} ${plural ? 'do' : 'does'} not match ${plural ? 'their' : 'its'} check character: a typo. Compare ${plural ? 'them' : 'it'} with the mailer. The card was not touched.`
          : 'The activation key does not match its check value: two groups may be swapped. Compare it with the mailer. The card was not touched.';
  return new AppError('ACTIVATION_KEY_TYPO', message, {
    fields: JSON.stringify({ key: 'Check the key against the mailer' }),
  });
}

function viewOf(r: CardReport): NonNullable<CardInReader['card']> {
  return {
    cardId: r.cardId.toUpperCase(),
    lifeCycle: r.lifeCycle,
    n: r.n ?? null,
    keyVersion: r.keyVersion,
    activationTriesLeft: r.activationTriesLeft,
    pinTriesLeft: r.pinTriesLeft,
  };
}

function empty(readerName: string, nextAction: NextAction, note: string): CardInReader {
  return { reader: readerName, card: null, record: null, nextAction, note, reconciled: [] };
}

function advice(record: CardRecord, report: CardReport): { nextAction: NextAction; note: string } {
  switch (record.state) {
    case 'awaiting_activation':
      return {
        nextAction: 'activate',
        note: `Awaiting activation: the cardholder types K from the mailer and chooses a PIN (${report.activationTriesLeft} tries left).`,
      };
    case 'blocked':
      return {
        nextAction: 'unblock',
        note: 'Blocked: a manager unblocks it with a second approver (manager or security officer).',
      };
    case 'active':
      return { nextAction: 'rotate', note: `Active, key version ${report.keyVersion}.` };
    case 'enrolling':
      return { nextAction: 'enroll', note: 'Enrollment of this card did not finish: finish it on the Enroll page.' };
    default:
      return { nextAction: 'none', note: 'This card is terminated and can no longer be used.' };
  }
}

/**
 * ROTATE KEY to the card's next series under a session of its current K, the card's proof that it
 * holds K' (a session under K', its state R-MACed), then the keystore makes K' current. With
 * `pendingSn`, the series a reprint already prepared (under its own dual control), which any desk
 * that has the card finishes; without, a new rotation, which the keystore allows only to its roles.
 */
async function rotateOnCard(
  card: OtacCard,
  ks: Keystore,
  n: string,
  fromVersion: number,
  session: Session,
  pendingSn?: number,
): Promise<CardReport> {
  const port = new KeystoreCardKeyPort(ks);
  const handle =
    pendingSn !== undefined
      ? await ks.cardKey(n, pendingSn)
      : (await ks.prepareCardKeyRotation(n, { operator: session.username, role: session.role })).next;
  const next = port.cardKeyOf(handle);
  const nextSn = handle.sn;
  const current = await port.cardKey(n);
  const sm = await card.openSecureChannel(port, current, fromVersion);
  await sm.rotateKey(next, nextSn);
  const proof = await (await card.openSecureChannel(port, next, nextSn)).readState();
  if (proof.keyVersion !== nextSn)
    throw new AppError(
      'CARD_ROTATION_UNCONFIRMED',
      'The card did not report the new key version. Present the card again to finish the change.',
    );
  await ks.confirmCardKeyRotation(n, nextSn);
  return proof;
}

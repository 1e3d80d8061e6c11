import type { AuditTrail } from '../audit/audit.service';
import type { Atomically, UnitOfWork } from '../db/repositories';
import { patiently } from '../card/while-busy';
import { cardIdFromAtr } from '../card/protocol/atr';
import type { CardState as CardChipState } from '../card/protocol/card-responses';
import { OtacCard } from '../card/protocol/card-session';
import type { CardReaderService } from '../card/reader.types';
import { CardTakenError, type CardRecord, type CardRepository } from '../cards/card.repository';
import { AppError, isAppError } from '../errors';
import type { KeystoreActor, KeystoreHolder } from '../keystore/keystore-holder.service';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { Logger } from '../log';
import type { CustomerPicker } from './customer-picker.repository';
import { formatN, generateN } from './identification-code';

// Enrollment (issue 9 item 2): a blank OTAC card in a reader the clerk named is bound to a
// customer, gets a fresh N, and is personalised under the vendor transport key with the card key
// K = KDF(MK, N, SN) — K never leaves the keystore. The database row is written BEFORE the card is
// touched (state `enrolling`) and moved to `awaiting_activation` only after the card confirmed
// PERSONALISE (or, on a retry, proved it holds K). PERSONALISE is atomic on the card, so after any
// interruption the card is either still blank (send PERSONALISE again, same N, same K) or
// personalised with our N (finish the database only): the card's own GET STATE decides.

export type EnrollmentStep = 'reading' | 'binding' | 'personalising' | 'checking' | 'finishing' | 'done';
export type ProgressListener = (step: EnrollmentStep) => void;

export interface EnrollmentResult {
  readonly cardRecordId: number;
  readonly cardId: string;
  readonly customerId: number;
  readonly n: string;
  readonly nFormatted: string;
  readonly state: 'awaiting_activation';
  /** True when an earlier, interrupted attempt was finished (the card or the row already existed). */
  readonly resumed: boolean;
  /** True when this call sent PERSONALISE; false when the card had it already. */
  readonly personalised: boolean;
}

/** What the card in a reader is, as far as enrollment is concerned (read-only). */
export type CardVerdict =
  | 'blank' // ready for a new enrollment
  | 'pending' // an interrupted enrollment: Retry finishes it
  | 'enrolled' // bound to a customer already
  | 'not-blank' // personalised elsewhere, or in a state enrollment cannot use
  | 'foreign'; // not an OTAC card

export interface CardInspection {
  readonly reader: string;
  readonly cardId: string | null;
  readonly lifeCycle: string | null;
  readonly verdict: CardVerdict;
  readonly record: { readonly customerId: number; readonly n: string; readonly state: string } | null;
  readonly message: string;
}

export interface EnrollmentDeps {
  readonly cards: CardRepository;
  readonly customers: CustomerPicker;
  readonly readers: CardReaderService | null;
  readonly keystore: KeystoreHolder;
  readonly audit: AuditTrail;
  /** The card row's insert and its move to awaiting activation commit with their entries (repositories.ts). */
  readonly atomically: Atomically;
  readonly log: Logger;
  readonly retries: () => { pinTries: number; activationTries: number };
  /** Tells the reader monitor to read the card again, so the status bar shows its new state. */
  readonly refreshReader?: (reader: string) => Promise<void>;
  readonly now?: () => Date;
  /** The N source (tests inject collisions); the CSPRNG by default. */
  readonly newN?: () => string;
}

const N_ATTEMPTS = 8;
/** Errors that mean the card or the reader went away mid-operation: the enrollment can be finished. */
const INTERRUPTIONS = new Set([
  'CARD_REMOVED',
  'CARD_TIMEOUT',
  'CARD_ABSENT',
  'PCSC_DOWN',
  'READER_ERROR',
  'READER_NOT_FOUND',
  'READER_NONE',
  'CARD_BUSY',
  'CARD_MUTE',
  'CARD_SESSION_CLOSED',
  'CARD_SM_RESPONSE_INVALID',
]);

export class EnrollmentService {
  private readonly now: () => Date;
  private readonly newN: () => string;

  constructor(private readonly deps: EnrollmentDeps) {
    this.now = deps.now ?? (() => new Date());
    this.newN = deps.newN ?? (() => generateN());
  }

  /** A new enrollment: the blank card in `reader` for `customerId`. A pending one for the same customer is finished. */
  async enroll(
    input: { customerId: number; reader: string; cardId?: string },
    actor: KeystoreActor,
    onProgress: ProgressListener = () => undefined,
  ): Promise<EnrollmentResult> {
    return this.run(input.reader, input.customerId, actor, onProgress, input.cardId);
  }

  /** Finishes the interrupted enrollment of the card in `reader`, whichever customer it was for. */
  async retry(
    input: { reader: string; cardId?: string },
    actor: KeystoreActor,
    onProgress: ProgressListener = () => undefined,
  ): Promise<EnrollmentResult> {
    return this.run(input.reader, null, actor, onProgress, input.cardId);
  }

  /** What enrollment would do with the card in `reader`; changes nothing on card or database. */
  async inspect(reader: string): Promise<CardInspection> {
    const readers = this.requireReaders();
    const read = patiently(
      readers,
      reader,
      async (transport, session) => {
        const cardId = cardIdFromAtr(session.atr);
        if (!cardId) return inspection(reader, null, null, 'foreign', null);
        const card = new OtacCard(transport);
        await card.select();
        const chip = await card.getState();
        const row = await this.deps.cards.byCardId(hexId(cardId));
        return inspection(reader, hexId(cardId), chip, verdictOf(chip, row), row);
      },
      { timeoutMs: 5000 },
    );
    // The reader service refuses a card whose ATR is not OTAC before any APDU.
    return read.catch((err: unknown) => {
      if (isAppError(err) && err.code === 'CARD_UNKNOWN') return inspection(reader, null, null, 'foreign', null);
      throw err;
    });
  }

  private requireReaders(): CardReaderService {
    if (!this.deps.readers) {
      throw new AppError(
        'READER_NONE',
        'This workstation runs without a card reader service, so it cannot enroll cards. Start it with a reader (or in training mode).',
      );
    }
    return this.deps.readers;
  }

  private async run(
    reader: string,
    customerId: number | null,
    actor: KeystoreActor,
    onProgress: ProgressListener,
    expectedCardId?: string,
  ): Promise<EnrollmentResult> {
    const what = customerId === null ? 'retry' : 'enroll';
    let cardId: string | null = null;
    let row: CardRecord | null = null;
    try {
      const readers = this.requireReaders();
      if (customerId !== null && !(await this.deps.customers.get(customerId))) {
        throw new AppError(
          'ENROLLMENT_CUSTOMER_UNKNOWN',
          'That customer does not exist (any more). Search for the customer again.',
        );
      }
      const ks = this.deps.keystore.current(); // locked: say so before the card is touched
      await this.audit(actor, 'enrollment.started', null, 'ok', {
        reader,
        what,
        ...(customerId ? { customerId } : {}),
      });
      onProgress('reading');
      const result = await this.deps.keystore.run(actor, () =>
        patiently(
          readers,
          reader,
          async (transport, session) => {
            const id = cardIdFromAtr(session.atr);
            if (!id) throw foreignCard(reader);
            cardId = hexId(id);
            const card = new OtacCard(transport);
            await card.select();
            const chip = await card.getState();
            if (chip.cardId.toUpperCase() !== cardId) throw foreignCard(reader);
            if (expectedCardId !== undefined && expectedCardId.toUpperCase() !== cardId) {
              throw new AppError(
                'ENROLLMENT_CARD_SWAPPED',
                `The card in "${reader}" is not the card you confirmed (${expectedCardId.toUpperCase()}). Nothing was written: check the card and confirm again.`,
                { refusal: true },
              );
            }
            row = await this.deps.cards.byCardId(cardId);
            const existed = row !== null;
            const plan = this.plan(chip, row, customerId);
            const port = new KeystoreCardKeyPort(ks);

            let personalised = false;
            if (plan === 'personalise') {
              // Every key the card needs must exist before the database changes.
              const caPublicKey = (await ks.caPublicKey()).uncompressedPoint;
              const transportKey = await port.transportKey(id);
              try {
                if (!row) {
                  onProgress('binding');
                  row = await this.bind(cardId, customerId!, actor);
                }
                const n = row.n;
                const handle = await ks.cardKey(n);
                const cardKey = port.cardKeyOf(handle);
                onProgress('personalising');
                const channel = await card.openSecureChannel(port, transportKey, 0);
                await channel.personalise({
                  n,
                  cardKey,
                  keyVersion: handle.sn,
                  caPublicKey,
                  ...this.deps.retries(),
                });
                personalised = true;
                await this.audit(actor, 'enrollment.personalised', cardId, 'ok', {
                  n,
                  sn: handle.sn,
                  kcv: handle.kcv,
                  customerId: row.customerId,
                });
              } finally {
                await port.release(transportKey);
              }
            } else {
              // The card took PERSONALISE but its answer (or our database step) was lost: prove it
              // holds this N's K (the cryptogram of a session under K) before calling it done.
              onProgress('checking');
              const pending = row!;
              const handle = await ks.cardKey(pending.n);
              const cardKey = port.cardKeyOf(handle);
              const channel = await card.openSecureChannel(port, cardKey, handle.sn);
              channel.close();
              await port.release(cardKey);
              await this.audit(actor, 'enrollment.card_already_personalised', cardId, 'ok', {
                n: pending.n,
                sn: handle.sn,
                customerId: pending.customerId,
              });
            }
            return { row: row!, personalised, existed };
          },
          { timeoutMs: 10_000 },
        ),
      );
      onProgress('finishing');
      const finished = await this.finish(result.row, (tx, done) =>
        this.audit(
          actor,
          'enrollment.completed',
          done.cardId,
          'ok',
          {
            n: done.n,
            customerId: done.customerId,
            reader,
            personalised: result.personalised,
          },
          tx.audit,
        ),
      );
      onProgress('done');
      this.refresh(reader);
      return {
        cardRecordId: finished.id,
        cardId: finished.cardId,
        customerId: finished.customerId,
        n: finished.n,
        nFormatted: formatN(finished.n),
        state: 'awaiting_activation',
        resumed: result.existed,
        personalised: result.personalised,
      };
    } catch (err) {
      throw await this.failed(err, actor, reader, cardId, row);
    }
  }

  /** Decides from the card's own state and the row what this attempt must do. */
  private plan(chip: CardChipState, row: CardRecord | null, customerId: number | null): 'personalise' | 'finish' {
    if (row && row.state !== 'enrolling') {
      throw new AppError(
        'ENROLLMENT_ALREADY_ENROLLED',
        `This card (${row.cardId}) is already enrolled (state: ${row.state.replace('_', ' ')}). Take it out and use a blank card from stock.`,
        { refusal: true },
      );
    }
    if (row && customerId !== null && row.customerId !== customerId) {
      throw new AppError(
        'ENROLLMENT_PENDING_OTHER_CUSTOMER',
        `This card's enrollment for another customer was interrupted. Choose Retry to finish that enrollment, or use another blank card for this customer.`,
        { refusal: true },
      );
    }
    if (chip.lifeCycle === 'blank') {
      if (!row && customerId === null) {
        throw new AppError(
          'ENROLLMENT_NOTHING_TO_RETRY',
          'No enrollment is pending for this card: it is blank. Start a new enrollment for the customer.',
          { refusal: true },
        );
      }
      return 'personalise';
    }
    if (row && chip.lifeCycle === 'personalised' && chip.n === row.n) return 'finish';
    throw new AppError(
      'ENROLLMENT_NOT_BLANK',
      row
        ? 'This card is not blank and does not carry the enrollment pending for it. Put it aside and report it to a manager; use another blank card.'
        : `This card is not blank (state: ${chip.lifeCycle}) and is not enrolled at this bank. Take it out and use a blank card from stock.`,
      { refusal: true },
    );
  }

  /** The row for the card, with a fresh N; the UNIQUE constraints decide collisions and races. */
  private async bind(cardId: string, customerId: number, actor: KeystoreActor): Promise<CardRecord> {
    for (let attempt = 1; attempt <= N_ATTEMPTS; attempt++) {
      const n = this.newN();
      try {
        return await this.deps.atomically(async (tx) => {
          const row = await tx.repos.cards.insert(
            { cardId, customerId, n, sealMode: 'card-key' },
            { operator: actor.operator ?? 'system', at: this.now().toISOString() },
          );
          await this.audit(actor, 'enrollment.bound', cardId, 'ok', { customerId, n, attempt }, tx.audit);
          return row;
        });
      } catch (err) {
        if (err instanceof CardTakenError && err.what === 'n') continue; // draw again
        if (err instanceof CardTakenError) {
          throw new AppError(
            'ENROLLMENT_ALREADY_ENROLLED',
            'Another desk has just bound this card. Take it out and use a blank card from stock.',
            { refusal: true },
          );
        }
        throw err;
      }
    }
    throw new AppError(
      'ENROLLMENT_N_EXHAUSTED',
      'No unused identification code could be drawn. Nothing was written; try again, and report it if it repeats.',
    );
  }

  /** The row moved to awaiting activation, with `record`'s entry in the same unit of work. */
  private async finish(
    row: CardRecord,
    record: (tx: UnitOfWork, done: CardRecord) => Promise<void>,
  ): Promise<CardRecord> {
    const at = this.now().toISOString();
    const done = await this.deps.atomically(async (tx) => {
      const moved =
        (await tx.repos.cards.transition(row.id, ['enrolling'], 'awaiting_activation', at)) ??
        (await tx.repos.cards.byId(row.id));
      if (moved?.state !== 'awaiting_activation') return null;
      await record(tx, moved); // moved now, or another desk finished it
      return moved;
    });
    if (done) return done;
    throw new AppError(
      'ENROLLMENT_CONFLICT',
      'The card record was changed by someone else while enrolling. Open the card page to see its state.',
    );
  }

  /** The error the operator sees, audited; a pending row turns an interruption into "retry". */
  private async failed(
    err: unknown,
    actor: KeystoreActor,
    reader: string,
    cardId: string | null,
    row: CardRecord | null,
  ): Promise<unknown> {
    if (!isAppError(err)) {
      this.deps.log.error('enrollment failed unexpectedly', {
        reader,
        error: err instanceof Error ? err.name : 'unknown',
      });
      await this.audit(actor, 'enrollment.failed', cardId, 'failed', { reader, code: 'UNEXPECTED' });
      return err;
    }
    const refusal = err.details?.['refusal'] === true || err.code === 'CARD_UNKNOWN';
    const pending = row !== null && row.state === 'enrolling';
    await this.audit(
      actor,
      refusal ? 'enrollment.refused' : 'enrollment.interrupted',
      cardId,
      refusal ? 'denied' : 'failed',
      {
        reader,
        code: err.code,
        pending,
      },
    );
    this.refresh(reader);
    if (pending && INTERRUPTIONS.has(err.code)) {
      const n = formatN(row.n);
      return new AppError(
        err.code,
        `${err.message} The enrollment (N ${n}) is saved as unfinished: put the same card into a reader and choose Retry; the workstation finishes the job.`,
        { pending: true },
      );
    }
    if (err.code === 'CARD_UNKNOWN') return foreignCard(reader);
    return err;
  }

  private refresh(reader: string): void {
    this.deps.refreshReader?.(reader).catch(() => undefined);
  }

  private audit(
    actor: KeystoreActor,
    action: string,
    object: string | null,
    outcome: 'ok' | 'denied' | 'failed',
    details: Record<string, string | number | boolean>,
    sink: Pick<AuditTrail, 'append'> = this.deps.audit,
  ): Promise<void> {
    return sink.append({
      operatorId: actor.operatorId,
      operator: actor.operator,
      role: actor.role,
      action,
      object,
      outcome,
      details,
    });
  }
}

function hexId(id: Buffer): string {
  return id.toString('hex').toUpperCase();
}

function foreignCard(reader: string): AppError {
  return new AppError(
    'ENROLLMENT_FOREIGN_CARD',
    `The card in "${reader}" is not an OTAC card. Take it out and insert a blank card from the OTAC stock.`,
    { refusal: true },
  );
}

function verdictOf(chip: CardChipState, row: CardRecord | null): CardVerdict {
  if (row && row.state !== 'enrolling') return 'enrolled';
  if (row) return chip.lifeCycle === 'blank' || chip.n === row.n ? 'pending' : 'not-blank';
  return chip.lifeCycle === 'blank' ? 'blank' : 'not-blank';
}

const VERDICT_TEXT: Record<CardVerdict, string> = {
  blank: 'A blank OTAC card: ready to enroll.',
  pending: 'This card has an unfinished enrollment: choose Retry to finish it.',
  enrolled: 'This card is already enrolled. Use a blank card from stock.',
  'not-blank': 'This card is not blank and not enrolled here. Use a blank card from stock.',
  foreign: 'Not an OTAC card. Use a blank card from the OTAC stock.',
};

function inspection(
  reader: string,
  cardId: string | null,
  chip: CardChipState | null,
  verdict: CardVerdict,
  row: CardRecord | null,
): CardInspection {
  return {
    reader,
    cardId,
    lifeCycle: chip?.lifeCycle ?? null,
    verdict,
    record: row ? { customerId: row.customerId, n: row.n, state: row.state } : null,
    message: VERDICT_TEXT[verdict],
  };
}

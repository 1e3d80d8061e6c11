import type { AuditService } from '../audit/audit.service';
import { OtacCard } from '../card/protocol/card-session';
import { verifyListReceipt } from '../card/protocol/list-preparation';
import type { CardReaderService } from '../card/reader.types';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { Keystore } from '../keystore/keystore.types';
import type { ListRepository } from '../lists/list.repository';
import type { ListService } from '../lists/list.service';
import { keyChanging } from './sms-export.service';

// The two-phase push of a code list over the reader (docs/card-profile.md sections 7 and 12;
// source 003 [0069]): the database records prepared → staged → committed → receipt verified →
// active, and the previous list is superseded only at the end. Every step is decided from what the
// card itself reports when it is presented, so an interruption anywhere — card pulled, pcscd
// restarted, the app killed — is finished at the next presentation: a list the card committed is
// confirmed with GET RECEIPT; one it did not is sent again (the same envelope in card-key mode).

/** Faults of the card or reader (reader-errors.ts) after which the push resumes at the next presentation. */
const INTERRUPTIONS = new Set([
  'CARD_ABSENT',
  'CARD_REMOVED',
  'CARD_TIMEOUT',
  'CARD_MUTE',
  'CARD_SESSION_CLOSED',
  'READER_ERROR',
  'PCSC_DOWN',
]);

export type PushStep = 'reading' | 'sealing' | 'sending' | 'committing' | 'confirming' | 'done';

export interface PushResult {
  readonly n: string;
  readonly outcome: 'pushed' | 'resumed' | 'nothing-to-push';
  readonly seq?: number;
  /** The card showed its low-codes flag: a refill was queued (000 claim 2). */
  readonly lowCodesQueued?: boolean;
}

export interface PushDeps {
  readonly readers: CardReaderService | null;
  readonly keystore: { run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T };
  readonly cards: CardRepository;
  readonly listRepo: ListRepository;
  readonly lists: ListService;
  readonly audit: AuditService;
}

export class PushService {
  constructor(private readonly deps: PushDeps) {}

  /**
   * Pushes the card's next list (the one on its way), or finishes one an interruption left half
   * done. Card-key mode; public-key mode needs the card's RSA key on record (not yet kept).
   */
  async pushNext(
    reader: string,
    actor: KeystoreActor,
    onStep: (step: PushStep, sent?: number, total?: number) => void = () => undefined,
  ): Promise<PushResult> {
    const readers = this.deps.readers;
    if (!readers) {
      throw new AppError(
        'READER_UNAVAILABLE',
        'This workstation runs without a card reader. Use a desk with a reader.',
      );
    }
    try {
      return await readers.withCard(reader, (t) => this.onCard(new OtacCard(t), actor, onStep));
    } catch (err) {
      // The card or the reader went away mid-push: the next presentation resumes it. Any other
      // refusal (a receipt that does not verify, a status word) keeps its own message.
      if (err instanceof AppError && INTERRUPTIONS.has(err.code)) {
        this.deps.audit.append({
          ...actor,
          action: 'push.interrupted',
          object: `reader:${reader}`,
          outcome: 'failed',
          details: { code: err.code },
        });
        throw new AppError(
          err.code,
          `${err.message} Nothing is lost: present the card again and choose Push list; the push resumes where it stopped.`,
        );
      }
      throw err;
    }
  }

  private async onCard(
    card: OtacCard,
    actor: KeystoreActor,
    onStep: (step: PushStep, sent?: number, total?: number) => void,
  ): Promise<PushResult> {
    onStep('reading');
    const info = await card.select();
    const state = await card.getState();
    const record = await this.deps.cards.byCardId(info.cardId.toUpperCase());
    if (!record) {
      throw new AppError(
        'PUSH_CARD_UNKNOWN',
        'This card is not enrolled at this issuer. Check the card; enroll it first.',
      );
    }
    if (record.state !== 'active' || state.lifeCycle !== 'active') {
      throw new AppError(
        'PUSH_CARD_NOT_ACTIVE',
        `Card ${record.n} is not active (${record.state.replace('_', ' ')}). Activate it with K from the mailer first.`,
      );
    }
    let lowCodesQueued = false;
    if (state.lowCodes) {
      lowCodesQueued = (await this.deps.lists.cardReportedLowCodes(record.id, actor)).created;
    }
    const list = await this.deps.listRepo.onItsWay(record.id);
    if (!list) return { n: record.n, outcome: 'nothing-to-push', lowCodesQueued };
    if (state.lastListSeq > list.seq) {
      throw new AppError(
        'PUSH_CARD_AHEAD',
        `Card ${record.n} holds list ${state.lastListSeq}, newer than list ${list.seq} on its way. Report the card as suspected cloned.`,
      );
    }
    return this.deps.keystore.run(actor, async (ks) => {
      const port = new KeystoreCardKeyPort(ks);
      // Nothing is sealed under the series a reprinted mailer replaced (docs/mailer.md).
      if ((await ks.cardKeyState(record.n)).pendingSn !== null) throw keyChanging(record.n);
      onStep('sealing');
      const cardKey = await port.cardKey(record.n);
      const prepared = await this.deps.lists.sealForPush(list.id, port, await port.issuerKey(), {
        mode: 'card-key',
        cardKey,
        keyVersion: state.keyVersion,
      });
      try {
        const committedEarlier = state.lastListSeq === list.seq;
        let receipt;
        if (committedEarlier) {
          onStep('confirming');
          receipt = await card.getReceipt();
        } else {
          await this.deps.lists.markStaged(list.id);
          onStep('sending', 0, prepared.envelope.length);
          // Once every byte is staged, COMMIT LIST follows inside loadList.
          receipt = await card.loadList(prepared.envelope, (sent, total) =>
            onStep(sent === total ? 'committing' : 'sending', sent, total),
          );
        }
        await this.deps.lists.markCommitted(list.id);
        onStep('confirming');
        await verifyListReceipt(port, prepared, receipt);
        await this.deps.lists.markReceiptVerified(list.id);
        await this.deps.lists.activate(list.id, actor);
        this.audited(actor, record, committedEarlier ? 'push.resumed' : 'push.completed', list.seq);
        onStep('done');
        return { n: record.n, outcome: committedEarlier ? 'resumed' : 'pushed', seq: list.seq, lowCodesQueued };
      } finally {
        await port.release(prepared.receiptKey).catch(() => undefined);
        await port.release(cardKey).catch(() => undefined);
      }
    });
  }

  private audited(actor: KeystoreActor, card: CardRecord, action: string, seq: number): void {
    this.deps.audit.append({
      ...actor,
      action,
      object: `card:${card.cardId}`,
      outcome: 'ok',
      details: { n: card.n, seq },
    });
  }
}

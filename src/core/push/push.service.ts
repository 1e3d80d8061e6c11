import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import { whileCardBusy } from '../card/while-busy';
import { OtacCard } from '../card/protocol/card-session';
import { verifyListReceipt } from '../card/protocol/list-preparation';
import type { CardReaderService } from '../card/reader.types';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import { CardError } from '../card/card-error';
import { SW } from '../card/status-words';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { Keystore } from '../keystore/keystore.types';
import type { ListRecord, ListRepository } from '../lists/list.repository';
import { currentSealName, listSealFor } from './seal-target';
import type { ListService } from '../lists/list.service';
import { keyChanging } from './sms-export.service';

// The two-phase push of a code list over the reader (docs/card-profile.md sections 7 and 12;
// source 003 [0069]): the database records prepared → staged → committed → receipt verified →
// active, and the previous list is superseded only at the end. Every step is decided from what the
// card itself reports when it is presented, so an interruption anywhere — card pulled, pcscd
// restarted, the app killed — is finished at the next presentation: a list the card committed is
// confirmed with GET RECEIPT (in public-key mode by its state under secure messaging); one it did
// not is sent again (the same envelope in card-key mode, a fresh session key in public-key mode).

/** Faults of the card or reader (reader-errors.ts) after which the push resumes at the next presentation. */
export const INTERRUPTIONS: ReadonlySet<string> = new Set([
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
  readonly audit: AuditTrail;
  /** A list's changeover and the push's entry commit together (repositories.ts). */
  readonly atomically: Atomically;
}

export class PushService {
  constructor(private readonly deps: PushDeps) {}

  /**
   * Pushes the card's next list (the one on its way), or finishes one an interruption left half
   * done, sealed for the key of the card's mode: K (type 01) or its proven RSA key (type 02).
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
      // The monitor may still be reading the card the last workflow left (after an activation, say).
      return await whileCardBusy(() => readers.withCard(reader, (t) => this.onCard(new OtacCard(t), actor, onStep)));
    } catch (err) {
      // The card or the reader went away mid-push: the next presentation resumes it. Any other
      // refusal (a receipt that does not verify, a status word) keeps its own message.
      if (err instanceof AppError && INTERRUPTIONS.has(err.code)) {
        await this.deps.audit.append({
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
    let list = (await this.deps.listRepo.onItsWay(record.id)) ?? (await this.firstListIfNone(record, actor));
    if (!list) return { n: record.n, outcome: 'nothing-to-push', lowCodesQueued };
    if (state.lastListSeq > list.seq) {
      throw new AppError(
        'PUSH_CARD_AHEAD',
        `Card ${record.n} holds list ${state.lastListSeq}, newer than list ${list.seq} on its way. Report the card as suspected cloned.`,
      );
    }
    const committedEarlier = state.lastListSeq === list.seq;
    // The key the list goes to now; refuses a card in public-key mode with no key on record.
    const target = committedEarlier ? null : currentSealName(record);
    if (target !== null && list.sealedFor !== null && list.sealedFor !== target) {
      // Sealed for the key of the other mode (or a key pair the card replaced since), and never
      // committed by the card, so none of its codes ever reached the cardholder: withdrawn and
      // replaced by a list for the key the card's lists go to now.
      await this.deps.lists.disable(list.id, actor, 'sealed for a key the card no longer uses');
      list = (await this.deps.lists.queueNext(record.id, list.trigger, actor)).list;
    }
    const onItsWay = list;
    if (committedEarlier && onItsWay.state === 'receipt_verified') {
      // Killed after the receipt was verified and recorded, before the changeover: the card holds
      // this list and its receipt checked, so what is left is the changeover itself. Sealing again
      // would be refused (the list is past sealing) and is not needed.
      return this.finish(record, onItsWay, true, actor, onStep, lowCodesQueued);
    }
    return this.deps.keystore.run(actor, async (ks) => {
      const port = new KeystoreCardKeyPort(ks);
      // Nothing is sealed under the series a reprinted mailer replaced (docs/mailer.md).
      if ((await ks.cardKeyState(record.n)).pendingSn !== null) throw keyChanging(record.n);
      if (committedEarlier && onItsWay.sealedFor?.startsWith('rsa:')) {
        return this.confirmPublicKeyList(card, port, record, onItsWay, state.keyVersion, actor, onStep, lowCodesQueued);
      }
      onStep('sealing');
      // A list the card committed earlier is confirmed under the key it was sealed for (K: the
      // public-key case returned above); any other goes to the key of the card's mode now.
      const { seal, cardKey } = committedEarlier
        ? await listSealFor({ ...record, sealMode: 'card-key' }, port, state.keyVersion)
        : await listSealFor(record, port, state.keyVersion);
      const publicKey = seal.mode === 'public-key';
      const prepared = await this.deps.lists.sealForPush(onItsWay.id, port, await port.issuerKey(), seal);
      try {
        let receipt;
        if (committedEarlier) {
          onStep('confirming');
          receipt = await card.getReceipt();
        } else {
          await this.deps.lists.markStaged(onItsWay.id);
          onStep('sending', 0, prepared.envelope.length);
          // Once every byte is staged, COMMIT LIST follows inside loadList.
          try {
            receipt = await card.loadList(prepared.envelope, (sent, total) =>
              onStep(sent === total ? 'committing' : 'sending', sent, total),
            );
          } catch (err) {
            throw publicKey ? await this.keyPairRefusal(err, record, onItsWay.seq, actor) : err;
          }
        }
        await this.deps.lists.markCommitted(onItsWay.id);
        onStep('confirming');
        await verifyListReceipt(port, prepared, receipt);
        return await this.finish(record, onItsWay, committedEarlier, actor, onStep, lowCodesQueued);
      } finally {
        await port.release(prepared.receiptKey).catch(() => undefined);
        if (cardKey) await port.release(cardKey).catch(() => undefined);
      }
    });
  }

  /**
   * An active card that never had a list gets its first one now (source 001 [0022]). Activation
   * queues it at once, but a workstation killed between the card's ACTIVATE and that queueing left
   * an active card (reconciled at its next presentation) with no list at all and nothing on its
   * way: without this, Push list answered "nothing to push" and the cardholder had no codes
   * (found by test/integration/push/kill.test.ts). A card whose lists were disabled is not refilled
   * here: that is a decision for a manager (lists:requestRefill).
   */
  private async firstListIfNone(record: CardRecord, actor: KeystoreActor): Promise<ListRecord | null> {
    if ((await this.deps.listRepo.forCard(record.id)).length > 0) return null;
    return (await this.deps.lists.queueNext(record.id, 'first', actor)).list;
  }

  /**
   * Public-key mode, the card committed the list but its receipt never reached the desk: the receipt
   * key came from that one envelope's fresh session key, so sealing again cannot check it. The card's
   * own state, read under secure messaging (R-MACed), shows the list it holds (docs/lists.md).
   */
  private async confirmPublicKeyList(
    card: OtacCard,
    port: KeystoreCardKeyPort,
    record: CardRecord,
    list: ListRecord,
    keyVersion: number,
    actor: KeystoreActor,
    onStep: (step: PushStep, sent?: number, total?: number) => void,
    lowCodesQueued: boolean,
  ): Promise<PushResult> {
    onStep('confirming');
    const cardKey = await port.cardKey(record.n);
    try {
      const proven = await (await card.openSecureChannel(port, cardKey, keyVersion)).readState();
      if (proven.list?.listId.toLowerCase() !== list.listId.toLowerCase() || proven.list.listSeq !== list.seq) {
        throw new AppError(
          'CARD_RECEIPT_INVALID',
          `Card ${record.n} does not show list ${list.seq} under secure messaging, so it stays inactive on the server. Read the card state and retry the push; if it repeats, treat the card as suspect.`,
        );
      }
    } finally {
      await port.release(cardKey).catch(() => undefined);
    }
    await this.deps.lists.markCommitted(list.id);
    return this.finish(record, list, true, actor, onStep, lowCodesQueued);
  }

  private async finish(
    record: CardRecord,
    list: ListRecord,
    committedEarlier: boolean,
    actor: KeystoreActor,
    onStep: (step: PushStep, sent?: number, total?: number) => void,
    lowCodesQueued: boolean,
  ): Promise<PushResult> {
    await this.deps.lists.markReceiptVerified(list.id);
    // The changeover ('lists.activated', ListService.activate joins this unit) and the push's entry together.
    await this.deps.atomically(async (tx) => {
      await this.deps.lists.activate(list.id, actor);
      await this.audited(actor, record, committedEarlier ? 'push.resumed' : 'push.completed', list.seq, tx.audit);
    });
    onStep('done');
    return { n: record.n, outcome: committedEarlier ? 'resumed' : 'pushed', seq: list.seq, lowCodesQueued };
  }

  /**
   * The card refused a list sealed for the public key on record (no key pair: 6A88; OAEP unwrap or
   * MAC failed: 6982): its key pair is not the one this desk recorded — made again elsewhere.
   */
  private async keyPairRefusal(err: unknown, record: CardRecord, seq: number, actor: KeystoreActor): Promise<unknown> {
    const sw = err instanceof CardError ? err.sw : undefined;
    if (sw !== SW.SECURITY_NOT_SATISFIED && sw !== SW.REFERENCED_DATA_NOT_FOUND) return err;
    await this.deps.audit.append({
      ...actor,
      action: 'push.refused',
      object: `card:${record.cardId}`,
      outcome: 'failed',
      details: { n: record.n, seq, reason: 'key-pair-changed' },
    });
    return new AppError(
      'PUSH_KEY_PAIR_CHANGED',
      `Card ${record.n} refused the list sealed for its public key on record: its key pair was changed outside this desk. Nothing changed on the card and its current list still serves. A manager chooses "Use public-key mode" on the card page again (the card proves a new key), or "Use card-key mode"; then push again.`,
    );
  }

  private audited(
    actor: KeystoreActor,
    card: CardRecord,
    action: string,
    seq: number,
    sink: Pick<AuditTrail, 'append'> = this.deps.audit,
  ): Promise<void> {
    return sink.append({
      ...actor,
      action,
      object: `card:${card.cardId}`,
      outcome: 'ok',
      details: { n: card.n, seq },
    });
  }
}

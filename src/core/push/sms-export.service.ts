import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { Keystore } from '../keystore/keystore.types';
import type { ListRepository } from '../lists/list.repository';
import type { ListService } from '../lists/list.service';
import { listSealFor } from './seal-target';
import { packageId, splitPackage } from './sms-package';

// The card's queued list as a remote refill package (docs/remote-refill.md): sealed in the keystore
// exactly as a desk push seals it (in the card's mode), split into text messages, and the list
// moved to `staged` — it has left the issuer. A later push at a reader is then the same list (sealed
// afresh: the issuer's signature is randomised): the card that loaded the messages answers GET
// RECEIPT, one that did not receives the envelope over the reader. Nothing secret is in the messages: the
// envelope is encrypted and MACed for one card and signed by the issuer.

export interface SmsExport {
  readonly n: string;
  readonly seq: number;
  readonly packageId: string;
  readonly segments: readonly string[];
  /** The list had been sent before (by SMS or to a reader that lost it): the same package again. */
  readonly resent: boolean;
}

export interface SmsExportDeps {
  readonly keystore: { run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T };
  readonly cards: CardRepository;
  readonly listRepo: ListRepository;
  readonly lists: ListService;
  readonly audit: Pick<AuditTrail, 'append'>;
  /** Marking the list sent and its entry commit together (repositories.ts). */
  readonly atomically: Atomically;
}

export class SmsExportService {
  constructor(private readonly deps: SmsExportDeps) {}

  async exportQueued(n: string, actor: KeystoreActor): Promise<SmsExport> {
    const card = await this.deps.cards.byN(n);
    if (!card) {
      throw new AppError(
        'CARD_UNKNOWN',
        `No card has the identification code ${n}. Check N on the card or the mailer.`,
      );
    }
    if (card.state !== 'active') {
      throw new AppError(
        'SMS_CARD_NOT_ACTIVE',
        `Card ${card.n} is ${card.state.replace('_', ' ')}: only an active card takes a list by text message.`,
      );
    }
    const list = await this.deps.listRepo.onItsWay(card.id);
    if (!list) {
      throw new AppError(
        'SMS_NO_LIST_QUEUED',
        `No list is waiting for card ${card.n}. Request a refill first, then send it by text message.`,
      );
    }
    if (list.state !== 'prepared' && list.state !== 'staged') {
      throw new AppError(
        'SMS_LIST_ON_CARD',
        `List ${list.seq} is already on card ${card.n} (${list.state.replace('_', ' ')}). Present the card at a reader to finish it; nothing needs sending.`,
      );
    }
    const segments = await this.deps.keystore.run(actor, async (ks) => {
      const port = new KeystoreCardKeyPort(ks);
      const keys = await ks.cardKeyState(card.n);
      if (keys.pendingSn !== null) throw keyChanging(card.n);
      // The card's mode decides the seal, as for a push at the desk (docs/push.md, "Public-key mode").
      const { seal, cardKey } = await listSealFor(card, port, keys.sn);
      try {
        const prepared = await this.deps.lists.sealForPush(list.id, port, await port.issuerKey(), seal);
        await port.release(prepared.receiptKey).catch(() => undefined);
        // Split before the list is marked sent: a package too large for the channel changes nothing.
        return { texts: splitPackage(prepared.envelope), id: packageId(prepared.envelope) };
      } finally {
        if (cardKey) await port.release(cardKey).catch(() => undefined);
      }
    });
    const resent = list.state === 'staged';
    await this.deps.atomically(async (tx) => {
      await this.deps.lists.markStaged(list.id); // joins this unit
      await tx.audit.append({
        ...actor,
        action: 'lists.sent_by_sms',
        object: `card:${card.n}`,
        outcome: 'ok',
        details: {
          seq: list.seq,
          listId: list.listId,
          packageId: segments.id,
          segments: segments.texts.length,
          resent,
        },
      });
    });
    return { n: card.n, seq: list.seq, packageId: segments.id, segments: segments.texts, resent };
  }
}

/** A reprinted mailer's key is pending: nothing is sealed under the old K, which the old mailer holds (docs/mailer.md). */
export function keyChanging(n: string): AppError {
  return new AppError(
    'CARD_KEY_CHANGING',
    `Card ${n} is to take the key of its reprinted mailer first. Present the card at a desk reader (the card page), then send its list.`,
  );
}

import { randomBytes } from 'node:crypto';
import type { AuditActor } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { CardKeyPort, KeyRef, ListSealMode } from '../card/card-key-port';
import { prepareList, type PreparedList } from '../card/protocol/list-preparation';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import type { PolicySource } from '../policy/policy.service';
import type { ListRecord, ListRepository, ListState, ListTrigger } from './list.repository';

// Issuing code lists to cards (issue 9 items 5 and 8): queue the next list (state prepared), have
// the keystore make and seal it for the push, record each step of the two-phase push, and switch
// lists over only when the card has proved it holds the new one (docs/lists.md). The push over
// the reader drives staged → committed → receipt_verified → active through the methods here.

/** Who asked; null operator for the server itself (the threshold trigger inside verify). */
export type ListActor = AuditActor;

export const SYSTEM_ACTOR: ListActor = { operatorId: null, operator: 'system', role: null };

/** Card states a list may be queued for: the first list follows activation (source 001 [0022]). */
const QUEUE_CARD_STATES = new Set(['awaiting_activation', 'active']);

export interface QueuedList {
  readonly list: ListRecord;
  /** False when a list was already on its way: one per card at most, and it serves this request too. */
  readonly created: boolean;
}

export class ListService {
  constructor(
    private readonly lists: ListRepository,
    private readonly cards: CardRepository,
    private readonly policies: PolicySource,
    /** A list's queueing, activation or withdrawal commits with its entry (repositories.ts). */
    private readonly atomically: Atomically,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Queues the card's next list (state prepared) unless one is on its way already. Audited when it
   * creates one. Its length is the policy's `listLength`, or `length` when given (a reissue carries
   * the old table's remaining codes over, docs/reissue.md); the refill threshold stays below it.
   */
  async queueNext(cardRef: number, trigger: ListTrigger, actor: ListActor, length?: number): Promise<QueuedList> {
    const card = await this.card(cardRef);
    if (!QUEUE_CARD_STATES.has(card.state)) {
      throw new AppError(
        'LIST_CARD_NOT_USABLE',
        `Card ${card.n} is ${card.state.replace('_', ' ')}, so no list can be queued for it. Check the card's state first.`,
      );
    }
    const p = this.policies.current();
    const at = this.now();
    const expires = new Date(at.getTime() + p.listExpiryDays * 86_400_000);
    expires.setUTCMilliseconds(0); // the card stores whole seconds
    const listId = randomBytes(16).toString('hex');
    return this.atomically(async (tx) => {
      const queued = await tx.repos.lists.queue(
        {
          cardRef,
          listId,
          length: length ?? p.listLength,
          digits: p.codeDigits,
          threshold: length === undefined ? p.refillThreshold : Math.min(p.refillThreshold, length - 1),
          expiresAt: expires.toISOString(),
          trigger,
        },
        { operator: actor.operator ?? 'system', at: at.toISOString() },
      );
      if (queued.created) {
        await tx.audit.append({
          ...actor,
          action: 'lists.queued',
          object: `card:${card.n}`,
          outcome: 'ok',
          details: { seq: queued.list.seq, listId: queued.list.listId, trigger, length: queued.list.length },
        });
      }
      return queued;
    });
  }

  /** A manager's or support's request for a new list (the cardholder asks at the desk). */
  async requestRefill(cardRef: number, actor: ListActor): Promise<QueuedList> {
    return this.queueNext(cardRef, 'manual', actor);
  }

  /** The card showed its low-codes flag when presented (profile 8.3, source 000 claim 2). */
  async cardReportedLowCodes(cardRef: number, actor: ListActor): Promise<QueuedList> {
    const active = await this.lists.active(cardRef);
    if (active) await this.lists.setRefillDue(active.id);
    return this.queueNext(cardRef, 'card_flag', actor);
  }

  /**
   * The list made, signed and sealed by the keystore (through `port`) for the push, and its sealing
   * recorded. A retry seals the same list again: the same list id, and for the same key the same codes.
   */
  async sealForPush(listRef: number, port: CardKeyPort, issuerKey: KeyRef, seal: ListSealMode): Promise<PreparedList> {
    const list = await this.list(listRef);
    const card = await this.card(list.cardRef);
    // Committed too: after a restart the push re-seals to get the receipt key back (card-key mode
    // derives the same one; docs/lists.md, "Resuming a push").
    if (!['prepared', 'staged', 'committed'].includes(list.state)) {
      throw new AppError(
        'LIST_STATE',
        `List ${list.seq} of card ${card.n} is ${list.state}; only a list whose receipt is not yet verified is sealed. Read the card state and resume the push.`,
      );
    }
    const prepared = await prepareList(
      port,
      issuerKey,
      {
        cardId: Buffer.from(card.cardId, 'hex'),
        listSeq: list.seq,
        listId: Buffer.from(list.listId, 'hex'),
        length: list.length,
        digits: list.digits,
        expiry: Math.floor(Date.parse(list.expiresAt) / 1000),
        threshold: list.threshold,
      },
      seal,
    );
    const sealed = await this.lists.recordSealing(
      list.id,
      { mkVersion: prepared.mkVersion, sealedFor: prepared.sealedFor, bodyHash: prepared.bodyHash.toString('hex') },
      this.now().toISOString(),
    );
    if (!sealed) {
      throw new AppError(
        'LIST_SEALED_OTHERWISE',
        `List ${list.seq} of card ${card.n} was sealed for another key before. Disable it and queue a new list.`,
      );
    }
    return prepared;
  }

  /** Push steps (two-phase, docs/lists.md): staged → committed → receipt_verified, compare-and-set. */
  async markStaged(listRef: number): Promise<ListRecord> {
    return this.move(listRef, ['prepared', 'staged'], 'staged');
  }
  async markCommitted(listRef: number): Promise<ListRecord> {
    return this.move(listRef, ['prepared', 'staged', 'committed'], 'committed');
  }
  async markReceiptVerified(listRef: number): Promise<ListRecord> {
    return this.move(listRef, ['committed', 'receipt_verified'], 'receipt_verified');
  }

  /** The changeover: the new list becomes active and the old one superseded in one transaction. */
  async activate(listRef: number, actor: ListActor): Promise<ListRecord> {
    const at = this.now().toISOString();
    const list = await this.atomically(async (tx) => {
      const activated = await tx.repos.lists.activate(listRef, at);
      if (!activated) return null;
      const card = await this.card(activated.cardRef, tx.repos.cards);
      await tx.audit.append({
        ...actor,
        action: 'lists.activated',
        object: `card:${card.n}`,
        outcome: 'ok',
        details: { seq: activated.seq, listId: activated.listId },
      });
      return activated;
    });
    if (!list) {
      const now = await this.list(listRef);
      if (now.state === 'active') return now;
      throw stateError(now, 'receipt_verified');
    }
    return list;
  }

  /** Withdraws a list (a lost card, a list suspected copied): its codes are refused from now on. */
  async disable(listRef: number, actor: ListActor, reason: string): Promise<ListRecord> {
    const before = await this.list(listRef);
    const at = this.now().toISOString();
    const list = await this.atomically(async (tx) => {
      const disabled = await tx.repos.lists.transition(
        listRef,
        ['prepared', 'staged', 'committed', 'receipt_verified', 'active'],
        'disabled',
        at,
      );
      if (!disabled) return null;
      const card = await this.card(disabled.cardRef, tx.repos.cards);
      await tx.audit.append({
        ...actor,
        action: 'lists.disabled',
        object: `card:${card.n}`,
        outcome: 'ok',
        details: { seq: disabled.seq, listId: disabled.listId, reason, was: before.state },
      });
      return disabled;
    });
    if (!list) throw stateError(before, 'active');
    return list;
  }

  async forCard(cardRef: number): Promise<ListRecord[]> {
    return this.lists.forCard(cardRef);
  }

  private async move(listRef: number, from: readonly ListState[], to: ListState): Promise<ListRecord> {
    // A unit of its own, so a caller's unit (the SMS package's 'lists.sent_by_sms') can include it.
    const at = this.now().toISOString();
    const list = await this.atomically((tx) => tx.repos.lists.transition(listRef, from, to, at));
    if (list) return list;
    throw stateError(await this.list(listRef), from.join(' or '));
  }

  private async list(listRef: number): Promise<ListRecord> {
    const list = await this.lists.byId(listRef);
    if (!list) throw new AppError('LIST_UNKNOWN', 'There is no such list. Reload the card page.');
    return list;
  }

  private async card(cardRef: number, cards: CardRepository = this.cards): Promise<CardRecord> {
    const card = await cards.byId(cardRef);
    if (!card) throw new AppError('CARD_UNKNOWN', 'There is no such card. Search for the customer again.');
    return card;
  }
}

function stateError(list: ListRecord, wanted: string): AppError {
  return new AppError(
    'LIST_STATE',
    `List ${list.seq} is ${list.state}, not ${wanted}; another desk may have moved it. Read the card state and resume.`,
  );
}

import type { ListSummary, listsChannels } from '../../shared/contract/lists.contract';
import type { AuditTrail } from '../audit/audit.service';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import type { HandlersFor } from '../rpc/router';
import type { ListRecord } from './list.repository';
import type { ListService } from './list.service';

export interface ListsHandlerDeps {
  readonly lists: ListService;
  readonly cards: CardRepository;
  readonly audit: AuditTrail;
}

/** What the desk sees of a list: counts and states, never a code. */
export function listSummary(l: ListRecord): ListSummary {
  return {
    seq: l.seq,
    listId: l.listId,
    state: l.state,
    trigger: l.trigger,
    length: l.length,
    digits: l.digits,
    threshold: l.threshold,
    used: l.usedCount,
    remaining: l.length - (l.nextIndex - 1),
    nextIndex: l.nextIndex,
    refillDue: l.refillDue,
    expiresAt: l.expiresAt,
    createdAt: l.createdAt,
    activatedAt: l.activatedAt,
  };
}

export function listsHandlers(deps: ListsHandlerDeps): HandlersFor<typeof listsChannels> {
  const cardOf = async (n: string): Promise<CardRecord> => {
    const card = await deps.cards.byN(n);
    if (!card)
      throw new AppError(
        'CARD_UNKNOWN',
        `No card has the identification code ${n}. Check N on the card or the mailer.`,
      );
    return card;
  };
  return {
    'lists:forCard': async (input) => {
      const card = await cardOf(input.n);
      return { n: card.n, cardState: card.state, lists: (await deps.lists.forCard(card.id)).map(listSummary) };
    },
    'lists:requestRefill': async (input, ctx) => {
      const card = await cardOf(input.n);
      const actor = { operatorId: ctx.session.operatorId, operator: ctx.session.username, role: ctx.session.role };
      const { list, created } = await deps.lists.requestRefill(card.id, actor);
      // Audited also when a list was already on its way: the request was made and answered by it.
      await deps.audit.append({
        ...actor,
        action: 'lists.refill_requested',
        object: `card:${card.n}`,
        outcome: 'ok',
        details: { seq: list.seq, created },
      });
      return { created, list: listSummary(list) };
    },
  };
}

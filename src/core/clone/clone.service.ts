import type { CounterComparison, SuspicionSummary } from '../../shared/contract/clone.contract';
import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import { OtacCard } from '../card/protocol/card-session';
import type { CardState } from '../card/protocol/card-responses';
import type { CardReaderService } from '../card/reader.types';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { Keystore } from '../keystore/keystore.types';
import type { ListRecord, ListRepository } from '../lists/list.repository';
import type { ListService } from '../lists/list.service';
import type {
  SuspicionEvent,
  SuspicionResolution,
  VerificationEventsRepository,
} from '../verification/verification-events.repository';

// Clone detection at the desk (issue 10 item 3; source 003 [0051]–[0063], FIG. 5–8;
// docs/clone-detection.md). A copy of a card's table can be used, but its uses never reach the
// genuine card: when the genuine card is next in the desk reader, its own count of codes given out
// (GET STATE under secure messaging, so the answer is R-MACed by the card and cannot be forged by
// the reader or the wire) is below the count the server accepted. The difference is the drift:
//   drift = codes of the list the server accepted − codes of that list the card gave out.
// Positive: codes were accepted that this card never showed — a probable clone, recorded as a
// counter_drift suspicion. Negative: the card gave out codes not (yet) presented — used offline,
// read and not typed, or skipped; no clone. The comparison needs the card and the server to mean
// the same list (same list id); otherwise it says why it cannot compare.

export interface CloneDeps {
  readonly readers: CardReaderService | null;
  readonly keystore: { run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T };
  readonly cards: CardRepository;
  readonly lists: ListRepository;
  readonly listService: Pick<ListService, 'disable'>;
  readonly events: VerificationEventsRepository;
  readonly audit: Pick<AuditTrail, 'append'>;
  /** A suspicion raised or settled, or a table disabled, commits with its entry (repositories.ts). */
  readonly atomically: Atomically;
  readonly now?: () => Date;
}

export class CloneDetectionService {
  constructor(private readonly deps: CloneDeps) {}

  private at(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }

  /** Reads the card in `reader` under secure messaging and compares its counters with the server's. */
  async compareCounters(reader: string, actor: KeystoreActor): Promise<CounterComparison> {
    const readers = this.deps.readers;
    if (!readers)
      throw new AppError(
        'READER_UNAVAILABLE',
        'This workstation runs without a card reader. Use a desk with a reader.',
      );
    const { record, proven } = await this.deps.keystore.run(actor, (ks) =>
      readers.withCard(reader, async (t) => {
        const card = new OtacCard(t);
        await card.select();
        const plain = await card.getState();
        const found = await this.deps.cards.byCardId(plain.cardId.toUpperCase());
        if (!found)
          throw new AppError(
            'CARD_NOT_ENROLLED',
            'This card is not enrolled at this desk. Check that it is the customer’s card, or ask support.',
          );
        if (plain.n !== undefined && plain.n !== found.n)
          throw new AppError(
            'CARD_MISMATCH',
            'The card in the reader does not match its enrollment record. Set it aside and ask support.',
          );
        if (plain.lifeCycle !== 'active')
          throw new AppError(
            'CLONE_CHECK_CARD_NOT_ACTIVE',
            `Card ${found.n} is not active on the chip; its counters are compared once it is activated.`,
          );
        const port = new KeystoreCardKeyPort(ks);
        const cardKey = await port.cardKey(found.n);
        try {
          // The counters the comparison trusts are the R-MACed ones, checked inside the keystore.
          const sm = await card.openSecureChannel(port, cardKey, plain.keyVersion);
          return { record: found, proven: await sm.readState() };
        } finally {
          await port.release(cardKey).catch(() => undefined);
        }
      }),
    );
    return this.compare(record, proven, actor);
  }

  /** The comparison itself, from counters already authenticated. */
  private async compare(card: CardRecord, proven: CardState, actor: KeystoreActor): Promise<CounterComparison> {
    const server = await this.deps.lists.current(card.id);
    const base = { n: card.n, suspicionId: null, note: null };
    const onCard = proven.list;
    if (!server || !onCard || onCard.listId.toLowerCase() !== server.listId.toLowerCase()) {
      const note = !onCard
        ? 'The card holds no list yet.'
        : !server
          ? 'The server has no active list for this card.'
          : 'The card holds another list than the server’s current one (a push not finished?). Push the card, then compare again.';
      const result: CounterComparison = {
        ...base,
        verdict: 'not_comparable',
        listSeq: null,
        listState: server?.state ?? null,
        cardUsed: null,
        serverUsed: null,
        drift: null,
        note,
      };
      await this.audited(card, actor, result);
      return result;
    }
    const cardUsed = onCard.entries - onCard.remaining;
    const serverUsed = server.usedCount;
    const drift = serverUsed - cardUsed;
    const verdict = drift > 0 ? 'probable_clone' : drift < 0 ? 'card_ahead' : 'in_step';
    const suspicion = drift > 0 ? await this.driftEvent(card, server, drift, actor) : null;
    const result: CounterComparison = {
      ...base,
      verdict,
      listSeq: server.seq,
      listState: server.state,
      cardUsed,
      serverUsed,
      drift,
      suspicionId: suspicion?.id ?? null,
    };
    await this.audited(card, actor, result);
    return result;
  }

  /** One open counter_drift event per list and drift: presenting the card again does not pile them up. */
  private async driftEvent(card: CardRecord, list: ListRecord, drift: number, actor: KeystoreActor) {
    const open = (await this.deps.events.openSuspicionsForCard(card.id)).find(
      (e) => e.kind === 'counter_drift' && e.listRef === list.id && e.drift === drift,
    );
    if (open) return open;
    return this.deps.atomically(async (tx) => {
      const raised = await tx.repos.verificationEvents.raise({
        cardRef: card.id,
        listRef: list.id,
        kind: 'counter_drift',
        drift,
        source: 'desk',
        at: this.at(),
      });
      await tx.audit.append({
        ...actor,
        action: 'verification.suspicion',
        object: `card:${card.n}`,
        outcome: 'denied',
        details: { id: raised.id, kind: raised.kind, drift, seq: list.seq, source: 'desk' },
      });
      return raised;
    });
  }

  private audited(card: CardRecord, actor: KeystoreActor, r: CounterComparison): Promise<void> {
    return this.deps.audit.append({
      ...actor,
      action: 'clone.counters_compared',
      object: `card:${card.n}`,
      outcome: r.verdict === 'probable_clone' ? 'denied' : 'ok',
      details: { verdict: r.verdict, seq: r.listSeq, cardUsed: r.cardUsed, serverUsed: r.serverUsed, drift: r.drift },
    });
  }

  async suspicions(n: string): Promise<{ n: string; events: SuspicionSummary[] }> {
    const card = await this.card(n);
    const events = await this.deps.events.suspicionsForCard(card.id, 500);
    return { n: card.n, events: await this.summaries(events) };
  }

  /**
   * Disables the card's current table (the one the operator confirmed, by seq) and resolves the
   * card's open suspicions as `table_disabled`. Verify refuses its codes from then on.
   */
  async disableTable(
    n: string,
    seq: number,
    actor: KeystoreActor,
  ): Promise<{ n: string; seq: number; resolved: number }> {
    const card = await this.card(n);
    const list = await this.deps.lists.current(card.id);
    if (!list || list.seq !== seq || list.state !== 'active')
      throw new AppError(
        'CLONE_TABLE_CHANGED',
        list?.state === 'disabled' && list.seq === seq
          ? `Table ${seq} of card ${card.n} is disabled already.`
          : `Table ${seq} is no longer card ${card.n}'s active table. Reload the card page and check again.`,
      );
    const resolved = await this.deps.atomically(async (tx) => {
      // ListService.disable ('lists.disabled') joins this unit.
      await this.deps.listService.disable(list.id, actor, 'probable clone (counter drift or replayed codes)');
      const r = await tx.repos.verificationEvents.resolveOpenForCard(
        card.id,
        'table_disabled',
        actor.operator,
        this.at(),
      );
      await tx.audit.append({
        ...actor,
        action: 'clone.table_disabled',
        object: `card:${card.n}`,
        outcome: 'ok',
        details: { seq, resolved: r.map((e) => e.id).join(' ') },
      });
      return r;
    });
    return { n: card.n, seq, resolved: resolved.length };
  }

  async resolve(
    n: string,
    id: number,
    resolution: Exclude<SuspicionResolution, 'table_disabled'>,
    actor: KeystoreActor,
  ): Promise<SuspicionSummary> {
    const card = await this.card(n);
    const mine = (await this.deps.events.openSuspicionsForCard(card.id)).some((e) => e.id === id);
    const resolved = !mine
      ? null
      : await this.deps.atomically(async (tx) => {
          const r = await tx.repos.verificationEvents.resolve(id, resolution, actor.operator, this.at());
          if (r)
            await tx.audit.append({
              ...actor,
              action: 'clone.suspicion_resolved',
              object: `card:${card.n}`,
              outcome: 'ok',
              details: { id, resolution },
            });
          return r;
        });
    if (!resolved)
      throw new AppError(
        'SUSPICION_NOT_OPEN',
        'This event is settled already or is not this card’s. Reload the card page.',
      );
    const [summary] = await this.summaries([resolved]);
    if (!summary) throw new Error('summary lost');
    return summary;
  }

  private async summaries(events: readonly SuspicionEvent[]): Promise<SuspicionSummary[]> {
    const seqs = new Map<number, number>();
    for (const e of events) {
      if (e.listRef !== null && !seqs.has(e.listRef)) {
        const l = await this.deps.lists.byId(e.listRef);
        if (l) seqs.set(e.listRef, l.seq);
      }
    }
    return events.map((e) => ({
      id: e.id,
      kind: e.kind,
      listSeq: e.listRef === null ? null : (seqs.get(e.listRef) ?? null),
      codeIndex: e.codeIndex,
      drift: e.drift,
      source: e.source,
      occurredAt: e.occurredAt,
      resolvedAt: e.resolvedAt,
      resolvedBy: e.resolvedBy,
      resolution: e.resolution,
    }));
  }

  private async card(n: string): Promise<CardRecord> {
    const card = await this.deps.cards.byN(n.trim());
    if (!card) throw new AppError('CARD_UNKNOWN', `No card has the identification code ${n.slice(0, 64)}. Check N.`);
    return card;
  }
}

import type { OnPresentedHook } from '../activation/activation.service';
import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import { MAX_LIST_ENTRIES } from '../card/protocol/profile.constants';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import type { EnrollmentResult, EnrollmentService, ProgressListener } from '../enrollment/enrollment.service';
import { formatN } from '../enrollment/identification-code';
import { AppError, isAppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { Logger } from '../log';
import type { ListRecord, ListRepository } from '../lists/list.repository';
import { ON_ITS_WAY } from '../lists/list.repository';
import type { ListService } from '../lists/list.service';
import type { ReissueGate } from './reissue-gate';
import { ReissueTakenError, type ReissueRecord, type ReissueRepository } from './reissue.repository';

// Reissue of a lost, stolen or cloned card (issue 11 item 3; source 004 claims 29–35, the credit
// transfer; docs/reissue.md). For a case the support gate calls verified: the old card is blocked and
// its table disabled for good (the report did it; done again, idempotently), the remaining codes of
// that table are counted, a blank card is enrolled for the same customer through the ordinary
// enrollment (a fresh N, a new key series), a list of the carried length is queued for it (pushed at
// activation like any first list), the new card waits for its K/N mailer in the mailer queue, and
// the case is marked reissued. Every write is recorded in card_reissues first, so a reissue cut off
// anywhere is finished by calling it again, and never makes a second new card.

export interface ReissueDeps {
  readonly gate: ReissueGate;
  readonly reissues: ReissueRepository;
  readonly cards: CardRepository;
  readonly listRepo: ListRepository;
  readonly lists: ListService;
  readonly enrollment: EnrollmentService;
  readonly audit: AuditTrail;
  /** Each reissue step's change commits with its entry (repositories.ts); card I/O stays outside. */
  readonly atomically: Atomically;
  readonly log: Logger;
  readonly now?: () => Date;
}

export interface ReissueResult {
  readonly caseId: number;
  readonly customerId: number;
  readonly oldN: string;
  readonly newCardRecordId: number;
  readonly newCardId: string;
  readonly newN: string;
  readonly newNFormatted: string;
  /** The codes carried over to the new card's first list (0: it gets an ordinary first list). */
  readonly carriedCodes: number;
  /** True when an earlier, interrupted call had done part of this. */
  readonly resumed: boolean;
}

export interface ReissueStatus {
  readonly caseId: number;
  readonly state: ReissueRecord['state'];
  readonly oldN: string;
  readonly newCardId: string;
  readonly newN: string | null;
  readonly carriedCodes: number;
  readonly oldCardTerminated: boolean;
  readonly emergencyPrintedAt: string | null;
}

/**
 * The carried quota: the old table's codes still ahead of its next index (forward-only use:
 * skipped codes are gone, as docs/lists.md counts "remaining"), at most a card's list maximum.
 * Zero when the card never had a list on it or used every code; its first list is then ordinary.
 */
export function carriedQuota(list: ListRecord | null): number {
  if (!list) return 0;
  return Math.min(MAX_LIST_ENTRIES, Math.max(0, list.length - (list.nextIndex - 1)));
}

export class ReissueService {
  private readonly now: () => Date;
  /** One reissue of a case at a time in this process; the UNIQUE constraints guard the rest. */
  private readonly perCase = new Map<number, Promise<unknown>>();

  constructor(private readonly deps: ReissueDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Reissues the case's card onto the blank card in `reader`, or finishes an interrupted reissue of it. */
  async reissue(
    input: { caseId: number; reader: string },
    actor: KeystoreActor,
    onProgress: ProgressListener = () => undefined,
  ): Promise<ReissueResult> {
    const before = this.perCase.get(input.caseId) ?? Promise.resolve();
    const run = before.then(() => this.run(input, actor, onProgress));
    const settled = run.catch(() => undefined);
    this.perCase.set(input.caseId, settled);
    void settled.then(() => {
      if (this.perCase.get(input.caseId) === settled) this.perCase.delete(input.caseId);
    });
    return run;
  }

  async status(caseId: number): Promise<ReissueStatus | null> {
    const row = await this.deps.reissues.byCase(caseId);
    if (!row) return null;
    const old = await this.deps.cards.byId(row.oldCardRef);
    const fresh = row.newCardRef === null ? null : await this.deps.cards.byId(row.newCardRef);
    return {
      caseId,
      state: row.state,
      oldN: old?.n ?? '',
      newCardId: row.newCardId,
      newN: fresh?.n ?? null,
      carriedCodes: row.carriedCodes,
      oldCardTerminated: row.oldCardTerminatedAt !== null,
      emergencyPrintedAt: row.emergencyPrintedAt,
    };
  }

  private async run(
    input: { caseId: number; reader: string },
    actor: KeystoreActor,
    onProgress: ProgressListener,
  ): Promise<ReissueResult> {
    const { caseId, reader } = input;
    try {
      let row = await this.deps.reissues.byCase(caseId);
      const resumed = row !== null;
      if (row?.state === 'done') {
        const fresh = row.newCardRef === null ? null : await this.deps.cards.byId(row.newCardRef);
        throw new AppError(
          'REISSUE_DONE',
          `This case was reissued already: the new card has N ${fresh ? formatN(fresh.n) : '?'}. Its mailer is printed from the Mailer page; nothing was changed.`,
          { refusal: true },
        );
      }
      // A reissue with no new card yet asks the gate again: the case may have been closed meanwhile.
      // One whose card exists goes on to markReissued, which refuses a case that is no longer verified.
      if (row === null || row.state === 'enrolling') {
        const verified = await this.deps.gate.verifiedCase(caseId);
        if (row === null) row = await this.begin(caseId, verified, reader, actor);
        else if (row.customerRef !== verified.customerId || row.oldCardRef !== verified.oldCardId)
          throw new AppError(
            'REISSUE_CASE_CHANGED',
            'The case now names another customer or card than the reissue begun for it. Nothing was changed; ask a manager.',
          );
      }
      const old = await this.card(row.oldCardRef);
      const fresh = await this.enrolled(row, reader, actor, onProgress);
      if (row.state === 'enrolling') {
        row =
          (await this.deps.reissues.markEnrolled(row.id, fresh.id, this.at())) ??
          (await this.deps.reissues.byCase(caseId))!;
      }
      if (row.carriedListRef === null && row.carriedCodes > 0) {
        // One list on its way per card: a second call finds this one and records it the same.
        const queued = await this.deps.lists.queueNext(fresh.id, 'first', actor, row.carriedCodes);
        row = (await this.deps.reissues.setCarriedList(row.id, queued.list.id, this.at())) ?? row;
      }
      const carriedCodes = row.carriedCodes;
      const done = row;
      await this.deps.atomically(async (tx) => {
        await this.deps.gate.markReissued(caseId, fresh.id); // the support case's own unit joins this one
        await tx.repos.reissues.markDone(done.id, this.at());
        await this.audit(
          actor,
          'reissue.completed',
          `card:${fresh.n}`,
          'ok',
          { caseId, oldN: old.n, newN: fresh.n, customerId: fresh.customerId, carriedCodes, resumed },
          tx.audit,
        );
      });
      return {
        caseId,
        customerId: fresh.customerId,
        oldN: old.n,
        newCardRecordId: fresh.id,
        newCardId: fresh.cardId,
        newN: fresh.n,
        newNFormatted: formatN(fresh.n),
        carriedCodes: row.carriedCodes,
        resumed,
      };
    } catch (err) {
      if (isAppError(err)) {
        await this.audit(actor, 'reissue.refused', `case:${caseId}`, 'denied', { caseId, reader, code: err.code });
      } else {
        this.deps.log.error('reissue failed unexpectedly', {
          caseId,
          error: err instanceof Error ? err.name : 'unknown',
        });
        await this.audit(actor, 'reissue.failed', `case:${caseId}`, 'failed', { caseId, reader, code: 'UNEXPECTED' });
      }
      throw err;
    }
  }

  /**
   * The first writes of a reissue: the old card dead (blocked, every list of it disabled; the report
   * did this already, so normally nothing changes), its quota counted once nothing can move it, the
   * blank card in `reader` chosen, then the card_reissues row that binds all of it. Nothing of the
   * new card exists before that row does.
   */
  private async begin(
    caseId: number,
    verified: { customerId: number; oldCardId: number },
    reader: string,
    actor: KeystoreActor,
  ): Promise<ReissueRecord> {
    const old = await this.card(verified.oldCardId);
    if (old.customerId !== verified.customerId)
      throw new AppError(
        'REISSUE_CASE_MISMATCH',
        'The case names a card of another customer. Nothing was changed; check the case with a manager.',
      );
    if (old.state === 'enrolling')
      throw new AppError(
        'REISSUE_OLD_CARD_UNFINISHED',
        'The reported card never finished its enrollment: finish or abandon that enrollment instead of reissuing.',
      );
    const taken = await this.deps.reissues.byOldCard(old.id);
    if (taken) throw replacedAlready(old);

    // The blank card first: a wrong card refuses before anything is written.
    const seen = await this.deps.enrollment.inspect(reader);
    if (seen.verdict !== 'blank' || seen.cardId === null)
      throw new AppError('REISSUE_NEEDS_BLANK_CARD', `${seen.message} A reissue needs a blank card from stock.`, {
        refusal: true,
      });

    await this.killOldCard(old, actor);
    const current = await this.deps.listRepo.current(old.id);
    const carriedCodes = carriedQuota(current);
    try {
      const newCardId = seen.cardId;
      return await this.deps.atomically(async (tx) => {
        const row = await tx.repos.reissues.begin(
          {
            caseId,
            customerRef: old.customerId,
            oldCardRef: old.id,
            newCardId,
            oldListRef: current?.id ?? null,
            carriedCodes,
          },
          { operator: actor.operator, at: this.at() },
        );
        await this.audit(
          actor,
          'reissue.started',
          `card:${old.n}`,
          'ok',
          { caseId, customerId: old.customerId, newCardId, reader, carriedCodes },
          tx.audit,
        );
        return row;
      });
    } catch (err) {
      if (err instanceof ReissueTakenError) {
        if (err.what === 'case') {
          const row = await this.deps.reissues.byCase(caseId);
          if (row) return row; // another call of this case won the insert: continue with its row
        }
        if (err.what === 'new_card')
          throw new AppError(
            'REISSUE_CARD_TAKEN',
            'This blank card is promised to another reissue. Take it out and use another blank card from stock.',
            { refusal: true },
          );
        throw replacedAlready(old);
      }
      throw err;
    }
  }

  /** The old card blocked and every list of it disabled; idempotent (the report normally did both). */
  private async killOldCard(old: CardRecord, actor: KeystoreActor): Promise<void> {
    if (old.state === 'active' || old.state === 'awaiting_activation') {
      const was = old.state;
      await this.deps.atomically(async (tx) => {
        const moved = await tx.repos.cards.transition(old.id, [was], 'blocked', this.at());
        if (moved)
          await this.audit(
            actor,
            'reissue.old_card_blocked',
            `card:${old.n}`,
            'ok',
            { cardId: old.cardId, was },
            tx.audit,
          );
      });
    }
    for (const list of await this.deps.listRepo.forCard(old.id)) {
      if (list.state === 'active' || ON_ITS_WAY.includes(list.state)) {
        await this.deps.lists.disable(list.id, actor, 'card reissued');
      }
    }
  }

  /** The new card's row: enrolled by an earlier call, or enrolled now (finishing a pending enrollment). */
  private async enrolled(
    row: ReissueRecord,
    reader: string,
    actor: KeystoreActor,
    onProgress: ProgressListener,
  ): Promise<CardRecord> {
    const existing = await this.deps.cards.byCardId(row.newCardId);
    if (existing && existing.state !== 'enrolling') {
      if (existing.customerId !== row.customerRef)
        throw new AppError(
          'REISSUE_CARD_TAKEN',
          'The blank card chosen for this reissue was enrolled for someone else. Ask a manager; nothing more was changed.',
        );
      return existing;
    }
    let result: EnrollmentResult;
    try {
      result = await this.deps.enrollment.enroll(
        { customerId: row.customerRef, reader, cardId: row.newCardId },
        actor,
        onProgress,
      );
    } catch (err) {
      if (isAppError(err) && err.code === 'ENROLLMENT_CARD_SWAPPED')
        throw new AppError(
          'REISSUE_OTHER_CARD',
          `This reissue was begun with the blank card ${row.newCardId}; only that card can finish it (never a second new card). Put that card in the reader and try again.`,
          { refusal: true },
        );
      throw err;
    }
    return this.card(result.cardRecordId);
  }

  /**
   * The desk's hook for a presented card (ActivationService.onPresented): a card replaced by a
   * reissue is terminated on the card (TERMINATE CARD USAGE under secure messaging, its state read
   * back), then in the database. The card first: a card pulled before TERMINATE is still blocked in
   * the database and is terminated at its next presentation; one that took TERMINATE but whose answer
   * was lost reads back as terminated next time, and the database follows.
   */
  readonly terminateReplaced: OnPresentedHook = async ({ card, report, record, keystore, actor }) => {
    const reissue = await this.deps.reissues.byOldCard(record.id);
    if (!reissue) return null;
    let chip = report;
    if (chip.lifeCycle !== 'terminated') {
      if (!keystore)
        throw new AppError(
          'REISSUE_OLD_CARD_PRESENTED',
          'This card was replaced by a reissue and must be terminated, which needs the keystore: have a security officer unlock it, then present the card again. Keep the card meanwhile.',
        );
      if (chip.lifeCycle === 'blank')
        throw new AppError('CARD_MISMATCH', 'This card does not match its record. Set it aside and ask support.');
      const port = new KeystoreCardKeyPort(keystore);
      const key = await port.cardKey(record.n, chip.keyVersion);
      const channel = await card.openSecureChannel(port, key, chip.keyVersion);
      await channel.terminate();
      chip = await card.getState();
      if (chip.lifeCycle !== 'terminated')
        throw new AppError(
          'REISSUE_TERMINATE_UNCONFIRMED',
          'The card did not report itself terminated. Keep the card and present it again.',
        );
      await this.audit(actor, 'reissue.old_card_terminated', `card:${record.n}`, 'ok', {
        cardId: record.cardId,
        caseId: reissue.caseId,
      });
    }
    // The card is terminated; its row, the reissue's note of it and the entry now, together.
    const moved = await this.deps.atomically(async (tx) => {
      const m =
        record.state === 'terminated'
          ? record
          : ((await tx.repos.cards.transition(
              record.id,
              ['blocked', 'active', 'awaiting_activation'],
              'terminated',
              this.at(),
            )) ?? (await this.card(record.id, tx.repos.cards)));
      await tx.repos.reissues.markOldCardTerminated(record.id, this.at());
      if (m.state !== record.state)
        await this.audit(
          actor,
          'cards.state_reconciled',
          `card:${record.n}`,
          'ok',
          { from: record.state, to: m.state },
          tx.audit,
        );
      return m;
    });
    return {
      report: chip,
      record: moved,
      note: 'This card was replaced by a reissue: it is terminated and can never be used again. Keep it for destruction.',
    };
  };

  private async card(id: number, cards: CardRepository = this.deps.cards): Promise<CardRecord> {
    const card = await cards.byId(id);
    if (!card) throw new AppError('CARD_UNKNOWN', 'There is no such card. Reload the case.');
    return card;
  }

  private at(): string {
    return this.now().toISOString();
  }

  private audit(
    actor: KeystoreActor,
    action: string,
    object: string,
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

function replacedAlready(old: CardRecord): AppError {
  return new AppError(
    'REISSUE_CARD_REPLACED',
    `Card ${formatN(old.n)} was replaced by another reissue already. Nothing was changed; open that case instead.`,
    { refusal: true },
  );
}

import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import type { Keystore } from '../keystore/keystore.types';
import { isSheetList, type ListRecord, type ListRepository, type UseMark } from '../lists/list.repository';
import { SYSTEM_ACTOR, type ListActor, type ListService } from '../lists/list.service';
import type { FailureCounterRepository, FailureState } from './failure.repository';
import type { CodeListRef } from '../keystore/keystore.types';
import type {
  NewSuspicion,
  SuspicionKind,
  VerificationEventsRepository,
  VerificationSource,
} from './verification-events.repository';
import type { PolicySource } from '../policy/policy.service';

// Using a code, in core (issue 9 item 7): verify(N, code, index?) — the one service every channel
// that checks a code goes through (the verification service of the next issue wraps it). The code
// is compared inside the keystore in constant time; the use is marked by one conditional UPDATE
// whose row count decides; a refusal changes nothing and says why (docs/lists.md "Using a code").

export const REFUSAL_REASONS = [
  'unknown_n',
  'card_blocked',
  'card_terminated',
  'card_not_active',
  'no_active_list',
  'table_disabled',
  'table_expired',
  'already_used',
  'not_expected_position',
  'wrong_code',
  'too_many_failures',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type VerifyResult =
  | {
      readonly accepted: true;
      readonly index: number;
      /** Codes left by the server's own count (forward-only: skipped codes are gone). */
      readonly remaining: number;
      /** True when this use brought the count to the threshold and the next list was queued. */
      readonly refillQueued: boolean;
    }
  | { readonly accepted: false; readonly reason: RefusalReason };

// How far ahead of the next expected index a code is still accepted is the policy value
// `verifyLookAhead` (default 10), read at each use. Codes are used forward only (source 003 [0048]:
// the sequence index says which entries are current, the used mark that none is reused): a code the
// cardholder read but never typed is skipped, never accepted later; a jump of that many positions
// or more is refused as not the expected position.
/** Without an index, this many positions behind the next expected one are checked too, to tell a replay from a typo. */
export const LOOK_BEHIND = 10;

/**
 * The failure lockout (issue 10): after this many codes of one card failed in a row, every code of
 * that card is refused as `too_many_failures` until the desk clears it. A guesser of 8-digit codes
 * gets FAILURE_LIMIT × LOOK_AHEAD chances in 10^8 before the card is locked.
 */
export const FAILURE_LIMIT = 5;
/**
 * The refusals that count as a failure: a code that is not the card's (a guess, a typo) or one out of
 * place. A replay of a code once accepted (`already_used`) does not: it was no guess, it is a clone
 * suspicion (source 003), and counting it would let a client's retried request lock a genuine card.
 */
const COUNTED: ReadonlySet<RefusalReason> = new Set(['wrong_code', 'not_expected_position']);

// At module level: a function made inside a method is made (and, under tsx, named) on every call.
const refuse = (reason: RefusalReason): VerifyResult => ({ accepted: false, reason });

/** The failure counter and its limit; without it (tests of verify alone) there is no lockout. */
export interface Lockout {
  readonly failures: FailureCounterRepository;
  readonly limit?: number;
}

/**
 * Where a verification's writes are committed. The default: each statement (or repository
 * transaction) on its own. The verification service passes its group commit (src/verify-service/
 * batch-commit.ts): the verifications of one event-loop turn share one transaction and one fsync.
 */
export type CommitScope = <T>(work: () => Promise<T>) => Promise<T>;

/** What a decision reads before it checks the code: the card, its current list, its failure row. */
export interface DecisionSnapshot {
  readonly card: CardRecord;
  readonly list: ListRecord | null;
  readonly failures: FailureState | null;
}

/**
 * A decision's reads and an acceptance's writes in as few round trips as the engine allows
 * (PostgreSQL: verification-store.pg.ts, one statement each). Without it the repositories are called
 * one by one, each a local call on SQLite. Either way the rules are the same: the same choice of
 * list, the same conditional use mark deciding exactly-once, the same reset of the failure count.
 */
export interface DecisionStore {
  /**
   * The card by N with its current list (ListRepository.current) and failure state, read together,
   * with the policies brought up to date in the same read (read at use); `snapshot` null: no card has
   * this N. With `apiKeyId`, whether that API key is still active, in the same read (`apiKeyActive`;
   * null without one).
   */
  read(
    n: string,
    apiKeyId: string | null,
  ): Promise<{ snapshot: DecisionSnapshot | null; apiKeyActive: boolean | null }>;
  /**
   * ListRepository.markUse and, when `resetFailures`, FailureCounterRepository.recordSuccess, as
   * one atomic write. Null: the mark's condition failed (another call won, or the card was locked out
   * since the read), nothing was written.
   */
  accept(listRef: number, index: number, window: number, at: string, resetFailures: boolean): Promise<UseMark | null>;
  /**
   * The version of the policies in force in this process as the store last read them: taken in the
   * same turn as `policies.current()`, so an `acceptKnown` is refused if they moved since.
   */
  policyVersion(): number;
  /**
   * An acceptance without the read, for a card whose list an earlier acceptance in this process saw:
   * ONE write that marks the use (as `accept`, the reset when the count is not 0 and not locked) only
   * if everything the read would have shown still holds — the card active, the list active (so still
   * the card's list), the card not locked, the policies at `policyVersion`, the caller's key active,
   * and with `nextIndex` the list's next index unmoved. Null: something moved, nothing was written;
   * the caller decides again with the read.
   */
  acceptKnown(use: KnownUse): Promise<UseMark | null>;
}

/** What `DecisionStore.acceptKnown` is given (see there). */
export interface KnownUse {
  readonly cardRef: number;
  readonly listRef: number;
  readonly index: number;
  readonly window: number;
  readonly at: string;
  readonly policyVersion: number;
  /** The next index the candidates were taken from (a code sent without its index), else null. */
  readonly nextIndex: number | null;
  readonly apiKeyId: string | null;
}

/** Cards whose list an acceptance saw, kept for `acceptKnown` (a bound on the process's memory). */
const KNOWN_CARDS = 10_000;

/**
 * Who asks, when their API key was taken from the verification service's memory rather than looked up
 * for this request (VerifyClientService `confirmedAtUse`, PostgreSQL): the decision's read checks in
 * the same statement that the key is still active, and a revoked key is refused before anything is
 * read further or written (VERIFY_CLIENT_REVOKED). Only with a DecisionStore; without one the caller
 * was checked in full before.
 */
export interface VerifyCaller {
  readonly apiKeyId: string;
}

/** What a VerificationService may be given beyond its repositories; each has a default. */
export interface VerificationOptions {
  readonly now?: () => Date;
  /** Who the audit entries name (the verification service, or the desk's system actor). */
  readonly actor?: ListActor;
  /** The failure counter and limit; without it (tests of verify alone) there is no lockout. */
  readonly lockout?: Lockout | null;
  /** Where refusals and suspicions are recorded; without it (tests of verify alone) nothing is. */
  readonly events?: VerificationEventsRepository | null;
  readonly commitScope?: CommitScope;
  /** The decision's reads and the acceptance's writes folded (PostgreSQL); the lockout's limit stays `lockout`'s. */
  readonly store?: DecisionStore | null;
  /**
   * A refusal's row, the suspicion it raises and their audit entries commit together, as does a
   * lifted lockout with its entry (repositories.ts units of work; given wherever the tables are shared).
   * Without it each entry follows its change.
   */
  readonly atomically?: Atomically | null;
}

export interface KeystoreSource {
  current(): Keystore;
}

/**
 * Whether the presented proof is code `position` of the list, checked inside the keystore: the
 * typed code (verify), or a card's MAC over a challenge and that code (challenge.service.ts).
 */
export type CodeProof = (ks: Keystore, list: CodeListRef, position: number) => Promise<boolean>;

/** What a decision saw, for the record of a refusal (filled as the decision goes). */
interface Seen {
  card?: CardRecord;
  list?: ListRecord;
  position?: number;
}

/** The refusals that raise a suspicion event (source 003, docs/clone-detection.md). */
const SUSPICIOUS: Partial<Record<RefusalReason, SuspicionKind>> = {
  already_used: 'code_replayed',
  table_disabled: 'disabled_table_used',
  card_blocked: 'blocked_card_used',
  card_terminated: 'blocked_card_used',
};

export class VerificationService {
  constructor(
    private readonly cards: CardRepository,
    private readonly lists: ListRepository,
    private readonly listService: ListService,
    private readonly keystore: KeystoreSource,
    private readonly audit: AuditTrail,
    private readonly policies: PolicySource,
    options: VerificationOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.actor = options.actor ?? SYSTEM_ACTOR;
    this.lockout = options.lockout ?? null;
    this.events = options.events ?? null;
    this.commitScope = options.commitScope ?? ((work) => work());
    this.store = options.store ?? null;
    this.atomically = options.atomically ?? null;
  }

  private readonly now: () => Date;
  private readonly actor: ListActor;
  private readonly lockout: Lockout | null;
  private readonly events: VerificationEventsRepository | null;
  private readonly commitScope: CommitScope;
  private readonly store: DecisionStore | null;
  private readonly atomically: Atomically | null;

  /** `work` on the unit's repositories and audit trail, or (no unit given) on the service's own. */
  private unit<T>(
    work: (
      events: VerificationEventsRepository | null,
      failures: FailureCounterRepository | null,
      audit: Pick<AuditTrail, 'append'>,
    ) => Promise<T>,
  ): Promise<T> {
    const atomically = this.atomically;
    if (!atomically) return work(this.events, this.lockout?.failures ?? null, this.audit);
    // READ COMMITTED: a refusal's row, its suspicion and its entries are inserts, and a cleared
    // lockout one conditional UPDATE; only the chain head orders them. Under SERIALIZABLE the 63
    // refusals of 64 parallel replays (or a guessing attack's) each conflicted on the head with
    // every one committed since they began, and ran out of attempts (the branch-network test).
    return atomically(
      (tx) => work(this.events ? tx.repos.verificationEvents : null, this.lockout ? tx.repos.failures : null, tx.audit),
      { isolation: 'read committed' },
    );
  }

  /**
   * One decision at a time per card in this process: the lockout's count is read and moved in order,
   * so 64 concurrent guesses meet the lock after FAILURE_LIMIT of them (the use mark needs no such
   * help: its conditional UPDATE decides). Different cards run side by side. Keyed by the card's id,
   * or with a DecisionStore by its N (unique per card): the store reads the card inside the turn.
   */
  private readonly perCard = new Map<number | string, Promise<unknown>>();
  /**
   * With a DecisionStore: by N, the card and list as this process's last acceptance left them (an
   * active card, its active list on the card, not a paper sheet). The next code of that card is
   * checked against them and accepted by `acceptKnown` in one statement that re-checks in the
   * database everything they stand for; whatever else happens, the decision is made again with the
   * read. Nothing is decided on them alone.
   */
  private readonly known = new Map<string, { readonly card: CardRecord; readonly list: ListRecord }>();

  async verify(
    n: string,
    code: string,
    index?: number,
    source: VerificationSource = 'desk',
    caller?: VerifyCaller,
  ): Promise<VerifyResult> {
    if (typeof n !== 'string' || typeof code !== 'string')
      throw new AppError('VERIFY_BAD_INPUT', 'N and the code are text. Check the request.');
    const typed = code.trim();
    return this.decideAndRecord(
      n,
      index,
      (ks, ref, position) => ks.checkListCode(ref, position, typed),
      source,
      caller,
    );
  }

  /**
   * The same decision and use mark as `verify` for a code proven another way than by typing it: the
   * card's answer to a challenge (profile 8.2 P1 01), which names its index and MACs the code.
   */
  async useProvenCode(n: string, index: number, proof: CodeProof, source: VerificationSource): Promise<VerifyResult> {
    if (typeof n !== 'string') throw new AppError('VERIFY_BAD_INPUT', 'N is text. Check the request.');
    return this.decideAndRecord(n, index, proof, source);
  }

  private async decideAndRecord(
    n: string,
    index: number | undefined,
    proof: CodeProof,
    source: VerificationSource,
    caller?: VerifyCaller,
  ): Promise<VerifyResult> {
    if (index !== undefined && (!Number.isInteger(index) || index < 1 || index > 0xffff))
      throw new AppError('VERIFY_BAD_INPUT', 'The code index is a whole number from 1. Check the request.');
    // Policies are read at use: on PostgreSQL a version saved at another desk is fetched here (with
    // a DecisionStore, by the decision's own read).
    if (this.policies.refresh && !this.store) await this.policies.refresh();
    return this.commitScope(() => this.decideNow(n, index, proof, source, caller));
  }

  private async decideNow(
    n: string,
    index: number | undefined,
    proof: CodeProof,
    source: VerificationSource,
    caller: VerifyCaller | undefined,
  ): Promise<VerifyResult> {
    const seen: Seen = {};
    const result = await this.decide(n.trim(), proof, index, seen, caller);
    // An acceptance is recorded by its use mark (code_uses: list, index, time), written in the same
    // transaction that decides it; an audit-chain entry per use would double that record and
    // serialise every verification on the chain's hash (docs/verification-service.md "Scale").
    // A refusal keeps its audit entry (the reason, never the code) beside its verify_rejections row.
    if (!result.accepted) {
      const reason = result.reason;
      await this.unit(async (events, _failures, audit) => {
        await this.record(n, reason, seen, source, events, audit);
        await audit.append({
          ...this.actor,
          action: 'verification.refused',
          object: `card:${n}`,
          outcome: 'denied',
          details: { reason },
        });
      });
    }
    return result;
  }

  /** The card's failure count and lock, for the desk (null: unknown N, or never failed). */
  async failureState(n: string): Promise<FailureState | null> {
    const card = await this.cards.byN(n.trim());
    if (!card || !this.lockout) return null;
    return this.lockout.failures.get(card.id);
  }

  /** The desk lifts a failure lockout (audited). False when there was nothing to clear. */
  async clearFailures(n: string, by: ListActor): Promise<boolean> {
    const card = await this.cards.byN(n.trim());
    if (!card) throw new AppError('CARD_NOT_FOUND', `No card has the number ${n.slice(0, 40)}. Check N.`);
    const cleared = await this.unit(async (_events, failures, audit) => {
      const done = failures ? await failures.clear(card.id) : null;
      if (done) {
        await audit.append({
          ...by,
          action: 'verification.failures_cleared',
          object: `card:${card.n}`,
          outcome: 'ok',
        });
      }
      return done;
    });
    return cleared !== null;
  }

  /** The refusal's row, and the suspicion (with its audit entry) it raises: source 003. */
  private async record(
    n: string,
    reason: RefusalReason,
    seen: Seen,
    source: VerificationSource,
    events: VerificationEventsRepository | null,
    audit: Pick<AuditTrail, 'append'>,
  ): Promise<void> {
    if (!events) return;
    const at = this.now().toISOString();
    const cardRef = seen.card?.id ?? null;
    const listRef = seen.list?.id ?? null;
    const kind = SUSPICIOUS[reason];
    const suspicion: NewSuspicion | null =
      kind && cardRef !== null
        ? { cardRef, listRef, kind, codeIndex: reason === 'already_used' ? (seen.position ?? null) : null, source, at }
        : null;
    const raised = await events.recordRefusal({ cardRef, listRef, reason, source, at }, suspicion);
    if (raised) {
      await audit.append({
        ...this.actor,
        action: 'verification.suspicion',
        object: `card:${n.trim()}`,
        outcome: 'denied',
        details: { id: raised.id, kind: raised.kind, index: raised.codeIndex, source },
      });
    }
  }

  private async decide(
    n: string,
    proof: CodeProof,
    index: number | undefined,
    seen: Seen,
    caller: VerifyCaller | undefined,
  ): Promise<VerifyResult> {
    const store = this.store;
    if (store)
      return this.inTurn(n, async () => {
        const fast = await this.acceptKnown(store, n, proof, index, caller);
        if (fast) return fast;
        const { snapshot, apiKeyActive } = await store.read(n, caller?.apiKeyId ?? null);
        // Thrown, not refused: nothing is recorded for a caller who may no longer call.
        if (caller && apiKeyActive !== true)
          throw new AppError(
            'VERIFY_CLIENT_REVOKED',
            'The API key is unknown or revoked. Ask the issuer for a key (npm run verify-client -- create).',
          );
        if (!snapshot) return refuse('unknown_n');
        seen.card = snapshot.card;
        return this.decideFor(snapshot.card, proof, index, seen, snapshot);
      });
    const card = await this.cards.byN(n);
    if (!card) return { accepted: false, reason: 'unknown_n' };
    seen.card = card;
    return this.inTurn(card.id, () => this.decideFor(card, proof, index, seen));
  }

  /**
   * The one-statement acceptance of a code of a card an earlier acceptance here saw (`known`), or
   * null: not known, not this code, or the statement found something moved — then the caller decides
   * again from the read, and any refusal is that decision's. Only ever accepts.
   */
  private async acceptKnown(
    store: DecisionStore,
    n: string,
    proof: CodeProof,
    index: number | undefined,
    caller: VerifyCaller | undefined,
  ): Promise<VerifyResult | null> {
    // Its statement checks and resets the failure count as the lockout does: only with a lockout.
    const known = this.lockout ? this.known.get(n) : undefined;
    if (!known) return null;
    this.known.delete(n); // set again below only if accepted
    const { card, list } = known;
    if (Date.parse(list.expiresAt) <= this.now().getTime()) return null;
    // The policy and its version in one turn: acceptKnown is refused if they moved since.
    const lookAhead = this.policies.current().verifyLookAhead;
    const policyVersion = store.policyVersion();
    const matched = await this.find(card, list, proof, index, lookAhead);
    if (!matched || matched.position < list.nextIndex || matched.position >= list.nextIndex + lookAhead) return null;
    const mark = await store.acceptKnown({
      cardRef: card.id,
      listRef: list.id,
      index: matched.position,
      window: lookAhead,
      at: this.now().toISOString(),
      policyVersion,
      nextIndex: index === undefined ? list.nextIndex : null,
      apiKeyId: caller?.apiKeyId ?? null,
    });
    if (!mark) return null;
    return this.accepted(card, mark, matched.position);
  }

  /** The answer to an acceptance (and the refill it may queue); with a store, the card is known. */
  private async accepted(card: CardRecord, mark: UseMark, position: number): Promise<VerifyResult> {
    if (this.store && card.state === 'active' && !isSheetList(mark.list)) {
      if (this.known.size >= KNOWN_CARDS) this.known.delete(this.known.keys().next().value ?? '');
      this.known.set(card.n, { card, list: mark.list });
    }
    const remaining = mark.list.length - (mark.list.nextIndex - 1);
    let refillQueued = false;
    if (mark.list.refillDue && !isSheetList(mark.list)) {
      // The server's own count reached the threshold (source 000 claim 3): queue the next list once.
      const queued = await this.listService.queueNext(card.id, 'threshold', SYSTEM_ACTOR);
      refillQueued = queued.created;
    }
    return { accepted: true, index: position, remaining, refillQueued };
  }

  /** `work` after every earlier decision on the same card in this process has settled. */
  private inTurn(key: number | string, work: () => Promise<VerifyResult>): Promise<VerifyResult> {
    const before = this.perCard.get(key) ?? Promise.resolve();
    const run = before.then(work);
    const settled = run.catch(() => undefined);
    this.perCard.set(key, settled);
    void settled.then(() => {
      if (this.perCard.get(key) === settled) this.perCard.delete(key);
    });
    return run;
  }

  private async decideFor(
    card: CardRecord,
    proof: CodeProof,
    index: number | undefined,
    seen: Seen,
    snapshot?: DecisionSnapshot,
  ): Promise<VerifyResult> {
    if (card.state === 'blocked') return refuse('card_blocked');
    if (card.state === 'terminated') return refuse('card_terminated');
    if (card.state !== 'active' && card.state !== 'awaiting_activation') return refuse('card_not_active');
    const list = snapshot ? snapshot.list : await this.lists.current(card.id);
    // A reissued card in the post: only its emergency sheet (a list on paper, docs/reissue.md) is
    // usable, and only until the card is activated — from then its own list is the card's list.
    if (card.state === 'awaiting_activation' && !(list?.state === 'active' && isSheetList(list)))
      return refuse('card_not_active');
    if (!list) return refuse('no_active_list');
    seen.list = list;
    if (card.state === 'active' && isSheetList(list)) return refuse('table_expired');
    if (list.state === 'disabled') return refuse('table_disabled');
    if (Date.parse(list.expiresAt) <= this.now().getTime()) return refuse('table_expired');
    const failures = this.lockout ? (snapshot ? snapshot.failures : await this.lockout.failures.get(card.id)) : null;
    if (failures?.lockedAt) return refuse('too_many_failures');

    // Only a card with failures in a row has a count to reset: most acceptances write nothing here.
    const reset = failures !== null && failures.consecutive > 0;
    const result = await this.match(card, list, proof, index, seen, reset);
    if (this.lockout) {
      // With a DecisionStore the reset was written with the use mark.
      if (result.accepted) {
        if (reset && !this.store) await this.lockout.failures.recordSuccess(card.id);
      } else if (COUNTED.has(result.reason))
        await this.lockout.failures.recordFailure(
          card.id,
          this.lockout.limit ?? FAILURE_LIMIT,
          this.now().toISOString(),
        );
    }
    return result;
  }

  private async match(
    card: CardRecord,
    list: ListRecord,
    proof: CodeProof,
    index: number | undefined,
    seen: Seen,
    resetFailures: boolean,
  ): Promise<VerifyResult> {
    // Read at each use: a policy change applies to the next code typed.
    const lookAhead = this.policies.current().verifyLookAhead;
    const matched = await this.find(card, list, proof, index, lookAhead);
    if (matched === undefined) return refuse('wrong_code');
    const { position } = matched;
    seen.position = position;
    if (position < list.nextIndex)
      return refuse((await this.lists.isUsed(list.id, position)) ? 'already_used' : 'not_expected_position');
    if (position >= list.nextIndex + lookAhead) return refuse('not_expected_position');

    const at = this.now().toISOString();
    const mark = this.store
      ? await this.store.accept(list.id, position, lookAhead, at, resetFailures && this.lockout !== null)
      : await this.lists.markUse(list.id, position, lookAhead, at);
    if (!mark) {
      // Another call won this index (or moved past it) between our read and our UPDATE, or a wrong
      // code decided at another desk or instance locked the card: the mark checks the lock itself.
      if (this.lockout && (await this.lockout.failures.get(card.id))?.lockedAt) return refuse('too_many_failures');
      const again = await this.lists.byId(list.id);
      if (again?.state === 'disabled') return refuse('table_disabled');
      return refuse((await this.lists.isUsed(list.id, position)) ? 'already_used' : 'not_expected_position');
    }
    return this.accepted(card, mark, position);
  }

  /**
   * The position whose code matches. With an index, that one position is checked. Without, the
   * positions from the next expected one forward (lookAhead), then LOOK_BEHIND back; every
   * candidate is checked, so the time does not tell where a match was.
   */
  private async find(
    card: CardRecord,
    list: ListRecord,
    proof: CodeProof,
    index: number | undefined,
    lookAhead: number,
  ): Promise<{ position: number } | undefined> {
    if (list.mkVersion === null || list.sealedFor === null) return undefined;
    const ks = this.keystore.current();
    const ref = {
      cardId: Buffer.from(card.cardId, 'hex'),
      listSeq: list.seq,
      listId: Buffer.from(list.listId, 'hex'),
      length: list.length,
      digits: list.digits,
      mkVersion: list.mkVersion,
      sealedFor: list.sealedFor,
    };
    const candidates =
      index !== undefined
        ? [index]
        : [
            ...range(list.nextIndex, Math.min(list.length, list.nextIndex + lookAhead - 1)),
            ...range(Math.max(1, list.nextIndex - LOOK_BEHIND), list.nextIndex - 1).reverse(),
          ];
    let found: number | undefined;
    for (const position of candidates) {
      const ok = position <= list.length && (await proof(ks, ref, position));
      if (ok && found === undefined) found = position;
    }
    return found === undefined ? undefined : { position: found };
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

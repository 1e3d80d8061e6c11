import { randomBytes } from 'node:crypto';
import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import { cardKeyChallengeMessage } from '../card/protocol/challenge-response';
import { CHALLENGE_LENGTH, MAC_LENGTH } from '../card/protocol/profile.constants';
import type { CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import { SYSTEM_ACTOR, type ListActor } from '../lists/list.service';
import type { ChallengeRepository } from './challenge.repository';
import type { VerificationSource } from './verification-events.repository';
import type { KeystoreSource, RefusalReason, VerificationService } from './verification.service';

// Challenge-response (issue 10 item 2; source 001 [0027], 002 FIG. 2; card profile 8.2): the service
// issues a random, single-use, expiring challenge for N; the terminal hands it to the card and
// passes the card's answer back. Two answers, told apart by their length:
// - with a code (P1 01, 21 bytes: index, remaining, flags, MAC): the MAC over the challenge and code
//   `index` is checked inside the keystore, then that code is used through core verify's own
//   decision and use mark (same refusals, same lockout, same record);
// - with the card key (P1 02, 16 bytes: MAC): proves the card holds K — a clone check at a terminal.
// A challenge is taken by one conditional UPDATE before its answer is checked: a replayed answer, a
// concurrent twin or a late one finds it gone and changes nothing.

/** How long an issued challenge may be answered. */
export const CHALLENGE_TTL_MS = 120_000;

export type ChallengeRefusal =
  RefusalReason | 'unknown_challenge' | 'challenge_expired' | 'challenge_used' | 'wrong_answer';

export type ChallengeResult =
  | {
      readonly accepted: true;
      readonly mode: 'code';
      readonly index: number;
      readonly remaining: number;
      readonly refillQueued: boolean;
    }
  | { readonly accepted: true; readonly mode: 'card' }
  | { readonly accepted: false; readonly reason: ChallengeRefusal };

export interface IssuedChallenge {
  readonly challengeId: string;
  /** 32 hex digits, handed to the card as CHALLENGE RESPONSE's data. */
  readonly challenge: string;
  readonly expiresAt: string;
}

/** The card's answer as the terminal read it (hex): 21 bytes with a code, 16 with the card key. */
export function parseChallengeAnswer(
  hex: string,
): { mode: 'code'; index: number; mac: Buffer } | { mode: 'card'; mac: Buffer } {
  const bytes = typeof hex === 'string' && /^(?:[0-9a-fA-F]{2})+$/.test(hex) ? Buffer.from(hex, 'hex') : null;
  if (bytes?.length === MAC_LENGTH) return { mode: 'card', mac: bytes };
  if (bytes?.length === 5 + MAC_LENGTH) {
    const index = bytes.readUInt16BE(0);
    if (index >= 1) return { mode: 'code', index, mac: bytes.subarray(5) };
  }
  throw new AppError(
    'CHALLENGE_BAD_ANSWER',
    "The answer is the card's CHALLENGE RESPONSE in hex: 42 digits with a code, 32 with the card key. Pass it unchanged.",
  );
}

export class ChallengeService {
  constructor(
    private readonly cards: CardRepository,
    private readonly challenges: ChallengeRepository,
    private readonly verification: Pick<VerificationService, 'useProvenCode'>,
    private readonly keystore: KeystoreSource,
    private readonly audit: Pick<AuditTrail, 'append'>,
    private readonly now: () => Date = () => new Date(),
    private readonly actor: ListActor = SYSTEM_ACTOR,
    private readonly ttlMs: number = CHALLENGE_TTL_MS,
    /** A challenge issued or settled commits with its entry (repositories.ts); without it the entry follows. */
    private readonly atomically: Atomically | null = null,
  ) {}

  /** `work` on the unit's challenges and audit trail, or (no unit given) on the service's own. */
  private unit<T>(
    work: (challenges: ChallengeRepository, audit: Pick<AuditTrail, 'append'>) => Promise<T>,
  ): Promise<T> {
    // READ COMMITTED, as the verification's refusals (VerificationService.unit): an insert or a
    // conditional UPDATE and an entry, at the rate of the bank's logins.
    return this.atomically
      ? this.atomically((tx) => work(tx.repos.challenges, tx.audit), { isolation: 'read committed' })
      : work(this.challenges, this.audit);
  }

  async issue(n: string, source: VerificationSource): Promise<IssuedChallenge> {
    const card = typeof n === 'string' ? await this.cards.byN(n.trim()) : null;
    if (!card) throw new AppError('CHALLENGE_UNKNOWN_N', 'No card has this N. Check N and ask for a challenge again.');
    const at = this.now();
    const fresh = {
      challengeId: randomBytes(16).toString('hex'),
      cardRef: card.id,
      challenge: randomBytes(CHALLENGE_LENGTH).toString('hex'),
      source,
      issuedAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + this.ttlMs).toISOString(),
    };
    const record = await this.unit(async (challenges, audit) => {
      const made = await challenges.create(fresh);
      await audit.append({
        ...this.actor,
        action: 'verification.challenge_issued',
        object: `card:${card.n}`,
        outcome: 'ok',
        details: { challengeId: made.challengeId, source },
      });
      return made;
    });
    return { challengeId: record.challengeId, challenge: record.challenge, expiresAt: record.expiresAt };
  }

  async answer(challengeId: string, answerHex: string, source: VerificationSource): Promise<ChallengeResult> {
    // Everything that can fail without the challenge's fault fails before it is taken.
    const answer = parseChallengeAnswer(answerHex);
    this.keystore.current(); // a locked keystore refuses here, leaving the challenge open
    const id = typeof challengeId === 'string' && /^[0-9a-f]{32}$/.test(challengeId) ? challengeId : null;
    const at = this.now().toISOString();
    const taken = id ? await this.challenges.take(id, at) : null;
    if (!taken) {
      const known = id ? await this.challenges.byChallengeId(id) : null;
      const reason: ChallengeRefusal = !known
        ? 'unknown_challenge'
        : known.answeredAt !== null
          ? 'challenge_used'
          : 'challenge_expired';
      return { accepted: false, reason };
    }
    const card = await this.cards.byId(taken.cardRef);
    if (!card) return this.settle(taken.challengeId, 'unknown', { accepted: false, reason: 'unknown_n' });
    const challenge = Buffer.from(taken.challenge, 'hex');
    let result: ChallengeResult;
    if (answer.mode === 'code') {
      const used = await this.verification.useProvenCode(
        card.n,
        answer.index,
        async (ks, list, position) =>
          ks.checkCodeChallengeAnswer(await ks.cardKey(card.n), list, position, challenge, answer.mac),
        source,
      );
      result = used.accepted
        ? {
            accepted: true,
            mode: 'code',
            index: used.index,
            remaining: used.remaining,
            refillQueued: used.refillQueued,
          }
        : used;
    } else if (card.state !== 'active') {
      const reason: RefusalReason =
        card.state === 'blocked' ? 'card_blocked' : card.state === 'terminated' ? 'card_terminated' : 'card_not_active';
      result = { accepted: false, reason };
    } else {
      const ks = this.keystore.current();
      const cardId = Buffer.from(card.cardId, 'hex');
      const ok = await ks.verifyChallengeResponse(
        await ks.cardKey(card.n),
        cardId,
        cardKeyChallengeMessage(cardId, challenge),
        answer.mac,
      );
      result = ok ? { accepted: true, mode: 'card' } : { accepted: false, reason: 'wrong_answer' };
    }
    return this.settle(taken.challengeId, card.n, result);
  }

  private async settle(challengeId: string, n: string, result: ChallengeResult): Promise<ChallengeResult> {
    await this.unit(async (challenges, audit) => {
      await challenges.settle(challengeId, result.accepted ? 'accepted' : 'refused');
      await audit.append({
        ...this.actor,
        action: 'verification.challenge_answered',
        object: `card:${n}`,
        outcome: result.accepted ? 'ok' : 'denied',
        details: result.accepted
          ? { challengeId, mode: result.mode, ...(result.mode === 'code' ? { index: result.index } : {}) }
          : { challengeId, reason: result.reason },
      });
    });
    return result;
  }
}

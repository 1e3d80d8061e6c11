import type { Database } from '../db/database';

// Challenges of the verification service (migration 0013). Async, one statement per change,
// portable SQL (docs/storage.md). Single use is one conditional UPDATE: the answer that finds the
// row open and unexpired takes it; every other answer (a replay, a concurrent twin, a late one) gets
// null and changes nothing.

export interface ChallengeRecord {
  readonly challengeId: string;
  readonly cardRef: number;
  /** 32 hex digits: 16 random bytes the card MACs. A nonce, not a secret. */
  readonly challenge: string;
  readonly source: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly answeredAt: string | null;
  readonly outcome: 'accepted' | 'refused' | null;
}

export interface ChallengeRepository {
  create(c: Omit<ChallengeRecord, 'answeredAt' | 'outcome'>): Promise<ChallengeRecord>;
  byChallengeId(challengeId: string): Promise<ChallengeRecord | null>;
  /** Takes the challenge for one answer: null when unknown, answered already or expired at `at`. */
  take(challengeId: string, at: string): Promise<ChallengeRecord | null>;
  /** The outcome of the answer that took it. */
  settle(challengeId: string, outcome: 'accepted' | 'refused'): Promise<void>;
}

interface ChallengeRow {
  challenge_id: string;
  card_ref: number;
  challenge: string;
  source: string;
  issued_at: string;
  expires_at: string;
  answered_at: string | null;
  outcome: 'accepted' | 'refused' | null;
}

const fromRow = (r: ChallengeRow): ChallengeRecord => ({
  challengeId: r.challenge_id,
  cardRef: r.card_ref,
  challenge: r.challenge,
  source: r.source,
  issuedAt: r.issued_at,
  expiresAt: r.expires_at,
  answeredAt: r.answered_at,
  outcome: r.outcome,
});

export class SqliteChallengeRepository implements ChallengeRepository {
  constructor(private readonly db: Database) {}

  async create(c: Omit<ChallengeRecord, 'answeredAt' | 'outcome'>): Promise<ChallengeRecord> {
    const row = this.db
      .prepare<unknown[], ChallengeRow>(
        `INSERT INTO verify_challenges (challenge_id, card_ref, challenge, source, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(c.challengeId, c.cardRef, c.challenge, c.source.slice(0, 64), c.issuedAt, c.expiresAt);
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return fromRow(row);
  }

  async byChallengeId(challengeId: string): Promise<ChallengeRecord | null> {
    const row = this.db
      .prepare<[string], ChallengeRow>('SELECT * FROM verify_challenges WHERE challenge_id = ?')
      .get(challengeId);
    return row ? fromRow(row) : null;
  }

  async take(challengeId: string, at: string): Promise<ChallengeRecord | null> {
    const row = this.db
      .prepare<[string, string, string], ChallengeRow>(
        `UPDATE verify_challenges SET answered_at = ?
          WHERE challenge_id = ? AND answered_at IS NULL AND expires_at > ? RETURNING *`,
      )
      .get(at, challengeId, at);
    return row ? fromRow(row) : null;
  }

  async settle(challengeId: string, outcome: 'accepted' | 'refused'): Promise<void> {
    this.db
      .prepare<[string, string]>(
        'UPDATE verify_challenges SET outcome = ? WHERE challenge_id = ? AND answered_at IS NOT NULL AND outcome IS NULL',
      )
      .run(outcome, challengeId);
  }
}

/** For the PostgreSQL implementation beside this one (challenge.repository.pg.ts). */
export { fromRow as challengeFromRow, type ChallengeRow };

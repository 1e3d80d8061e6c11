import type { PgQueryable } from '../db/pg/pg-database';
import {
  challengeFromRow,
  type ChallengeRecord,
  type ChallengeRepository,
  type ChallengeRow,
} from './challenge.repository';

// Challenges on PostgreSQL (issue 12): single use across instances by the same conditional UPDATE
// as on SQLite; an answer racing on another instance waits for the row and then finds it taken.

type Row = ChallengeRow & Record<string, unknown>;

export class PgChallengeRepository implements ChallengeRepository {
  constructor(private readonly db: PgQueryable) {}

  async create(c: Omit<ChallengeRecord, 'answeredAt' | 'outcome'>): Promise<ChallengeRecord> {
    const [row] = await this.db.query<Row>(
      `INSERT INTO verify_challenges (challenge_id, card_ref, challenge, source, issued_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      [c.challengeId, c.cardRef, c.challenge, c.source.slice(0, 64), c.issuedAt, c.expiresAt],
    );
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return challengeFromRow(row);
  }

  async byChallengeId(challengeId: string): Promise<ChallengeRecord | null> {
    const [row] = await this.db.query<Row>('SELECT * FROM verify_challenges WHERE challenge_id = ?', [challengeId]);
    return row ? challengeFromRow(row) : null;
  }

  async take(challengeId: string, at: string): Promise<ChallengeRecord | null> {
    const [row] = await this.db.query<Row>(
      `UPDATE verify_challenges SET answered_at = ?
        WHERE challenge_id = ? AND answered_at IS NULL AND expires_at > ? RETURNING *`,
      [at, challengeId, at],
    );
    return row ? challengeFromRow(row) : null;
  }

  async settle(challengeId: string, outcome: 'accepted' | 'refused'): Promise<void> {
    await this.db.query(
      'UPDATE verify_challenges SET outcome = ? WHERE challenge_id = ? AND answered_at IS NOT NULL AND outcome IS NULL',
      [outcome, challengeId],
    );
  }
}

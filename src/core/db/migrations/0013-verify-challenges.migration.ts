import type { Migration } from '../migration';

// Challenge-response through the verification service (issue 10 item 2; 001 [0027], 002 FIG. 2;
// docs/verification-service.md "Challenge-response"). One row per challenge issued for a card: the
// random challenge (a nonce, no secret: the card MACs it under a key only the card and the keystore
// hold), when it expires, and when it was answered. Single use is the compare-and-set on
// `answered_at IS NULL AND expires_at > now`: of two concurrent answers one finds the row open.
export const migration0013: Migration = {
  version: 13,
  name: 'verify-challenges',
  up(db) {
    db.exec(`
      CREATE TABLE verify_challenges (
        id INTEGER PRIMARY KEY,
        challenge_id TEXT NOT NULL UNIQUE CHECK (length(challenge_id) = 32),
        card_ref INTEGER NOT NULL REFERENCES cards (id),
        challenge TEXT NOT NULL CHECK (length(challenge) = 32),
        source TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
        issued_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        answered_at TEXT,
        outcome TEXT CHECK (outcome IS NULL OR outcome IN ('accepted', 'refused')),
        CHECK (outcome IS NULL OR answered_at IS NOT NULL)
      ) STRICT;
      CREATE INDEX verify_challenges_by_card ON verify_challenges (card_ref, issued_at);
    `);
  },
};

import type { Migration } from '../migration';

// Public-key mode (issue 9 item 6, docs/push.md): the card's own RSA public key, kept on record
// from the R-MACed answer of GENERATE KEY PAIR (docs/card-profile.md 9.4), so lists can be sealed
// for it (envelope type 02). A public key is no secret; it is stored as the hex of its DER
// SubjectPublicKeyInfo (an RSA-2048 key is 294 bytes) with the time the card proved it. The column
// `seal_mode` (migration 0006) says which key the next list is sealed for; the key is kept only
// while the card is in public-key mode (the repository clears it when the card goes back to
// card-key mode), and only an added column, so the migration moves no data.
export const migration0010: Migration = {
  version: 10,
  name: 'card-public-key',
  up(db) {
    db.exec(`
      ALTER TABLE cards ADD COLUMN public_key TEXT
        CHECK (public_key IS NULL OR (length(public_key) BETWEEN 64 AND 2048 AND length(public_key) % 2 = 0));
      ALTER TABLE cards ADD COLUMN public_key_at TEXT;
    `);
  },
};

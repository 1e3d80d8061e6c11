import type { Migration } from '../migration';

// Which derived key each card holds: K = KDF(MK_version, N, SN). Not secret — it names a key,
// it is not one — and shared by every branch on the issuer database. A card's SN only grows:
// every SN below the current one is retired for good. pending_* is a rotation sent to the
// card (K' wrapped under K) and not yet confirmed by the card's receipt.
export const migration0003: Migration = {
  version: 3,
  name: 'keystore',
  up(db) {
    db.exec(`
      CREATE TABLE card_key_series (
        n TEXT PRIMARY KEY,
        mk_version INTEGER NOT NULL CHECK (mk_version >= 1),
        sn INTEGER NOT NULL CHECK (sn >= 1),
        pending_sn INTEGER CHECK (pending_sn IS NULL OR pending_sn > sn),
        pending_mk_version INTEGER CHECK ((pending_sn IS NULL) = (pending_mk_version IS NULL)),
        retired_count INTEGER NOT NULL DEFAULT 0 CHECK (retired_count >= 0),
        updated_at TEXT NOT NULL
      ) STRICT;
    `);
  },
};

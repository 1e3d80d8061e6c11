import type { Migration } from '../migration';

// Code lists and their use marks (issue 9 items 5, 7, 8). Metadata only: nothing here computes a
// code without the keystore. A list's codes come from its secret = KDF(MK of mk_version, list_id,
// card id, seq, sealed_for) inside the keystore (docs/keystore.md, "Code lists"); the table keeps
// which list, its shape, where it stands and how far it has been used. A use mark holds the index
// and the time, never the code.
//
// States (docs/lists.md): prepared → staged → committed → receipt_verified → active, then
// superseded (the next list became active on the card) or disabled (withdrawn by the issuer).
// At most one list per card is on its way (prepared … receipt_verified) and at most one is active:
// two partial unique indexes, which PostgreSQL has too.
export const migration0008: Migration = {
  version: 8,
  name: 'code-lists',
  up(db) {
    db.exec(`
      CREATE TABLE code_lists (
        id INTEGER PRIMARY KEY,
        card_ref INTEGER NOT NULL REFERENCES cards (id),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        list_id TEXT NOT NULL UNIQUE CHECK (length(list_id) = 32),
        length INTEGER NOT NULL CHECK (length BETWEEN 1 AND 1000),
        digits INTEGER NOT NULL CHECK (digits BETWEEN 6 AND 10),
        threshold INTEGER NOT NULL CHECK (threshold >= 0),
        expires_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('prepared', 'staged', 'committed', 'receipt_verified', 'active', 'superseded', 'disabled')),
        queued_by_trigger TEXT NOT NULL CHECK (queued_by_trigger IN ('first', 'threshold', 'card_flag', 'manual')),
        mk_version INTEGER CHECK (mk_version IS NULL OR mk_version >= 0),
        sealed_for TEXT,
        body_hash TEXT CHECK (body_hash IS NULL OR length(body_hash) = 64),
        next_index INTEGER NOT NULL DEFAULT 1 CHECK (next_index >= 1),
        used_count INTEGER NOT NULL DEFAULT 0 CHECK (used_count >= 0),
        refill_due INTEGER NOT NULL DEFAULT 0 CHECK (refill_due IN (0, 1)),
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        state_changed_at TEXT NOT NULL,
        activated_at TEXT,
        version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
        UNIQUE (card_ref, seq),
        CHECK ((mk_version IS NULL) = (sealed_for IS NULL) AND (sealed_for IS NULL) = (body_hash IS NULL)),
        CHECK (state = 'prepared' OR sealed_for IS NOT NULL)
      ) STRICT;
      CREATE UNIQUE INDEX code_lists_one_on_its_way ON code_lists (card_ref)
        WHERE state IN ('prepared', 'staged', 'committed', 'receipt_verified');
      CREATE UNIQUE INDEX code_lists_one_active ON code_lists (card_ref) WHERE state = 'active';

      CREATE TABLE code_uses (
        list_ref INTEGER NOT NULL REFERENCES code_lists (id),
        code_index INTEGER NOT NULL CHECK (code_index >= 1),
        used_at TEXT NOT NULL,
        PRIMARY KEY (list_ref, code_index)
      ) STRICT;
    `);
  },
};

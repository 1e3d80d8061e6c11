import type { Migration } from '../migration';

// Reissue of a lost, stolen or cloned card (issue 11 item 3; docs/reissue.md). One row per support
// case that got a new card: the case (unique: one new card per case), the old card (unique: a card
// is replaced once), the blank card chosen for it (its chip id, recorded BEFORE the card is touched,
// so a resumed reissue can only finish that card), the new card's row once enrolled, and the code
// quota carried over from the old card's table, and the emergency sheet printed while the new card is
// in the post (its list is a code_lists row sealed for `sheet:<N>`, docs/reissue.md "Temporary access"). Two rules are the database's own, so no code path
// (a desk's reconciliation of a presented card included) can undo them:
//  - a disabled code list stays disabled (its codes are refused for good, docs/lists.md);
//  - a card replaced by a reissue stays blocked or terminated, and a terminated card stays
//    terminated (TERMINATE CARD USAGE is final on the card too, docs/card-profile.md).
export const migration0018: Migration = {
  version: 18,
  name: 'card-reissues',
  up(db) {
    db.exec(`
      CREATE TABLE card_reissues (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL UNIQUE CHECK (case_id >= 1),
        customer_ref INTEGER NOT NULL REFERENCES customers (id),
        old_card_ref INTEGER NOT NULL UNIQUE REFERENCES cards (id),
        new_card_id TEXT NOT NULL UNIQUE CHECK (length(new_card_id) BETWEEN 2 AND 64),
        new_card_ref INTEGER UNIQUE REFERENCES cards (id),
        old_list_ref INTEGER REFERENCES code_lists (id),
        carried_codes INTEGER NOT NULL CHECK (carried_codes BETWEEN 0 AND 1000),
        carried_list_ref INTEGER UNIQUE REFERENCES code_lists (id),
        state TEXT NOT NULL CHECK (state IN ('enrolling', 'enrolled', 'done')),
        started_at TEXT NOT NULL,
        started_by TEXT NOT NULL,
        state_changed_at TEXT NOT NULL,
        old_card_terminated_at TEXT,
        emergency_list_ref INTEGER UNIQUE REFERENCES code_lists (id),
        emergency_printed_at TEXT,
        emergency_printed_by TEXT,
        emergency_approved_by TEXT,
        version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
        CHECK (state = 'enrolling' OR new_card_ref IS NOT NULL)
      ) STRICT;

      CREATE TRIGGER code_lists_disabled_stays_disabled BEFORE UPDATE OF state ON code_lists
        WHEN OLD.state = 'disabled' AND NEW.state <> 'disabled'
        BEGIN SELECT RAISE(ABORT, 'a disabled code list stays disabled'); END;

      CREATE TRIGGER cards_terminated_stays_terminated BEFORE UPDATE OF state ON cards
        WHEN OLD.state = 'terminated' AND NEW.state <> 'terminated'
        BEGIN SELECT RAISE(ABORT, 'a terminated card stays terminated'); END;

      CREATE TRIGGER cards_replaced_stays_dead BEFORE UPDATE OF state ON cards
        WHEN NEW.state NOT IN ('blocked', 'terminated')
          AND EXISTS (SELECT 1 FROM card_reissues WHERE old_card_ref = OLD.id)
        BEGIN SELECT RAISE(ABORT, 'a card replaced by a reissue stays blocked or terminated'); END;
    `);
  },
};

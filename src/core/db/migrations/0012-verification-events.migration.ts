import type { Migration } from '../migration';

// What the usage review and clone detection read (issue 10 items 3 and 4, source 003 [0051]–[0063]).
// Accepted uses are already `code_uses`; these two tables hold the rest. Never a code, a key or N in
// clear beyond the card it belongs to.
//
// `verify_rejections`: every refused verification with its reason (the reasons of core `verify`,
// docs/lists.md), the card and list when known (unknown N: both NULL), where it came from (`desk`,
// or `client:<key id>` of the verification service) and when. One row per refusal; the review
// counts them by reason over time.
//
// `suspicion_events`: a reason to believe a card or its table was copied (source 003): a used code
// presented again, a code of a disabled table, a code of a blocked or terminated card, or the desk's
// counter comparison finding the server ahead of the card (`drift` = server's used count minus the
// card's, positive means a probable clone). `resolved_*` records who dealt with it and how (table
// disabled, card reported, dismissed with a reason).
export const migration0012: Migration = {
  version: 12,
  name: 'verification-events',
  up(db) {
    db.exec(`
      CREATE TABLE verify_rejections (
        id INTEGER PRIMARY KEY,
        card_ref INTEGER REFERENCES cards (id),
        list_ref INTEGER REFERENCES code_lists (id),
        reason TEXT NOT NULL CHECK (reason IN ('unknown_n', 'card_blocked', 'card_terminated', 'card_not_active',
          'no_active_list', 'table_disabled', 'table_expired', 'already_used', 'not_expected_position', 'wrong_code',
          'too_many_failures')),
        source TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
        at TEXT NOT NULL,
        CHECK (list_ref IS NULL OR card_ref IS NOT NULL)
      ) STRICT;
      CREATE INDEX verify_rejections_by_card ON verify_rejections (card_ref, at);
      CREATE INDEX verify_rejections_by_time ON verify_rejections (at);

      CREATE TABLE suspicion_events (
        id INTEGER PRIMARY KEY,
        card_ref INTEGER NOT NULL REFERENCES cards (id),
        list_ref INTEGER REFERENCES code_lists (id),
        kind TEXT NOT NULL CHECK (kind IN ('code_replayed', 'disabled_table_used', 'blocked_card_used', 'counter_drift')),
        code_index INTEGER CHECK (code_index IS NULL OR code_index >= 1),
        drift INTEGER,
        source TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
        occurred_at TEXT NOT NULL,
        resolved_at TEXT,
        resolved_by TEXT,
        resolution TEXT CHECK (resolution IS NULL OR resolution IN ('table_disabled', 'card_reported', 'dismissed')),
        CHECK ((resolved_at IS NULL) = (resolution IS NULL)),
        CHECK (kind <> 'counter_drift' OR drift IS NOT NULL)
      ) STRICT;
      CREATE INDEX suspicion_events_by_card ON suspicion_events (card_ref, occurred_at);
      CREATE INDEX suspicion_events_by_time ON suspicion_events (occurred_at);
      CREATE INDEX suspicion_events_open ON suspicion_events (occurred_at) WHERE resolved_at IS NULL;
    `);
  },
};

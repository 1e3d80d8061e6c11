import type { Migration } from '../migration';

// Support cases (issue 11 items 1, 2 and 5; source 004; docs/support.md): a card reported lost,
// stolen, damaged or suspected cloned, the out-of-band passkey that verifies the customer, the
// lockout after too many wrong passkeys and the manager's identity procedure that lifts it, and the
// new card once reissued. The passkey is held only as a keyed tag (AES-CMAC under a key the keystore
// derives and never lets out), never in clear. One open case per card: a partial unique index.
export const migration0017: Migration = {
  version: 17,
  name: 'support-cases',
  up(db) {
    db.exec(`
      CREATE TABLE support_cases (
        id INTEGER PRIMARY KEY,
        card_ref INTEGER NOT NULL REFERENCES cards (id),
        customer_ref INTEGER NOT NULL REFERENCES customers (id),
        reason TEXT NOT NULL CHECK (reason IN ('lost', 'stolen', 'damaged', 'suspected_clone')),
        state TEXT NOT NULL CHECK (state IN ('reported', 'passkey_sent', 'locked', 'verified', 'reissued')),
        card_state_before TEXT NOT NULL,
        suspicion_ref INTEGER REFERENCES suspicion_events (id),
        note TEXT CHECK (note IS NULL OR length(note) <= 500),
        opened_at TEXT NOT NULL,
        opened_by TEXT NOT NULL,
        state_changed_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        passkey_serial INTEGER NOT NULL DEFAULT 0,
        passkey_tag TEXT CHECK (passkey_tag IS NULL OR length(passkey_tag) = 32),
        passkey_channel TEXT CHECK (passkey_channel IS NULL OR passkey_channel IN ('email', 'sms')),
        passkey_sent_at TEXT,
        passkey_expires_at TEXT,
        failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
        verified_at TEXT,
        verified_by TEXT,
        verified_via TEXT CHECK (verified_via IS NULL OR verified_via IN ('desk', 'email_reply')),
        identity_document_type TEXT,
        identity_document_ref TEXT,
        identity_checked_by TEXT,
        identity_approved_by TEXT,
        identity_checked_at TEXT,
        new_card_ref INTEGER REFERENCES cards (id),
        reissued_at TEXT,
        CHECK (state <> 'passkey_sent' OR passkey_tag IS NOT NULL),
        CHECK (state <> 'reissued' OR new_card_ref IS NOT NULL)
      ) STRICT;
      CREATE UNIQUE INDEX support_cases_one_open_per_card ON support_cases (card_ref) WHERE state <> 'reissued';
      CREATE INDEX support_cases_by_state ON support_cases (state, opened_at);
    `);
  },
};

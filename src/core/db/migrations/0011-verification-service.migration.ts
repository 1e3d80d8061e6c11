import type { Migration } from '../migration';

// The verification service (issue 10 item 1, docs/verification-service.md).
//
// `verify_clients`: the bank systems allowed to call the service. A client's API key is
// `otac_<key_id>_<secret>`; the table keeps key_id (to find the row) and SHA-256 of the secret,
// never the key. The secret is 32 random bytes, so a fast hash is enough: nobody can search 2^256
// candidates, and a slow hash per request would cap the service's rate. Scopes are a space-separated
// subset of `verify challenge read`. A revoked client keeps its row (revoked_at) for the audit.
//
// `verification_failures`: the failure lockout of core `verify` (docs/lists.md "Using a code"):
// codes that failed in a row per card, and when the card was locked out. One row per card that has
// ever failed; an accepted code sets `consecutive` back to 0 (unless locked), the desk clears a lock.
export const migration0011: Migration = {
  version: 11,
  name: 'verification-service',
  up(db) {
    db.exec(`
      CREATE TABLE verify_clients (
        id INTEGER PRIMARY KEY,
        key_id TEXT NOT NULL UNIQUE CHECK (length(key_id) = 16),
        key_hash TEXT NOT NULL CHECK (length(key_hash) = 64),
        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
        scopes TEXT NOT NULL CHECK (length(scopes) >= 1),
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT
      ) STRICT;
      CREATE TABLE verification_failures (
        card_ref INTEGER PRIMARY KEY REFERENCES cards (id),
        consecutive INTEGER NOT NULL CHECK (consecutive >= 0),
        last_failure_at TEXT,
        locked_at TEXT
      ) STRICT;
    `);
  },
};

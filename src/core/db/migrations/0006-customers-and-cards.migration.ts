import type { Migration } from '../migration';

// The issuer's customers and the cards bound to them (issue 9). Written to move to PostgreSQL
// (a later issue): plain types, ISO-8601 text times, no SQLite-only functions in defaults. The
// columns here are the shared ground every card workflow reads; a feature that needs more adds
// them in a migration of its own.
//
// A card's state: `enrolling` (bound, PERSONALISE not yet confirmed: a retry finishes it),
// `awaiting_activation` (personalised; the cardholder has K on the mailer), `active`, `blocked`
// (refused everywhere until cleared or replaced), `terminated` (dead for good).
export const migration0006: Migration = {
  version: 6,
  name: 'customers-and-cards',
  up(db) {
    db.exec(`
      CREATE TABLE customers (
        id INTEGER PRIMARY KEY,
        customer_ref TEXT UNIQUE,
        full_name TEXT NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
        name_key TEXT NOT NULL,
        birth_date TEXT CHECK (birth_date IS NULL OR length(birth_date) = 10),
        address_line1 TEXT NOT NULL,
        address_line2 TEXT,
        postal_code TEXT NOT NULL,
        city TEXT NOT NULL,
        country TEXT NOT NULL,
        email TEXT,
        mobile TEXT,
        branch TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
        CHECK (customer_ref IS NOT NULL OR birth_date IS NOT NULL)
      ) STRICT;
      CREATE INDEX customers_by_name ON customers (name_key);
      CREATE INDEX customers_by_branch ON customers (branch);

      CREATE TABLE cards (
        id INTEGER PRIMARY KEY,
        card_id TEXT NOT NULL UNIQUE CHECK (length(card_id) BETWEEN 2 AND 64),
        customer_id INTEGER NOT NULL REFERENCES customers (id),
        n TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL CHECK (state IN ('enrolling', 'awaiting_activation', 'active', 'blocked', 'terminated')),
        seal_mode TEXT NOT NULL DEFAULT 'card-key' CHECK (seal_mode IN ('card-key', 'public-key')),
        enrolled_at TEXT NOT NULL,
        enrolled_by TEXT NOT NULL,
        activated_at TEXT,
        state_changed_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
      ) STRICT;
      CREATE INDEX cards_by_customer ON cards (customer_id);
    `);
  },
};

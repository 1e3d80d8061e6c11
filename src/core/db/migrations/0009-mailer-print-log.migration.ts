import type { Migration } from '../migration';

// The K/N mailer print log (issue 9, docs/mailer.md), as PIN-mailer practice requires: one row per
// print attempt, with its serial, the card, N, the key series printed, who printed, who approved,
// when, initial or reprint, the reason, and how it ended. Never K: the key is only on the paper.
//
// result: `pending` (reserved, the PDF is being made), `printed` (handed to the printer or saved),
// `failed` (stopped before the PDF left the desk: K never reached paper), `uncertain` (the printer
// refused part-way or the desk stopped mid-print: K may be on paper, so only a reprint under a
// new key series may follow).
//
// The two partial unique indexes are the rules, enforced by the database for every desk at once:
// one live mailer per key series of a card, and one initial mailer per card.
export const migration0009: Migration = {
  version: 9,
  name: 'mailer-print-log',
  up(db) {
    db.exec(`
      CREATE TABLE mailer_prints (
        id INTEGER PRIMARY KEY,
        serial TEXT UNIQUE,
        card_ref INTEGER NOT NULL REFERENCES cards (id),
        n TEXT NOT NULL,
        key_sn INTEGER NOT NULL CHECK (key_sn >= 1),
        kind TEXT NOT NULL CHECK (kind IN ('initial', 'reprint')),
        reason TEXT,
        operator TEXT NOT NULL,
        approver TEXT,
        batch TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        result TEXT NOT NULL CHECK (result IN ('pending', 'printed', 'failed', 'uncertain')),
        error_code TEXT,
        CHECK (kind = 'initial' OR (reason IS NOT NULL AND length(reason) >= 1))
      ) STRICT;
      CREATE UNIQUE INDEX mailer_prints_one_per_series ON mailer_prints (card_ref, key_sn)
        WHERE result IN ('pending', 'printed', 'uncertain');
      CREATE UNIQUE INDEX mailer_prints_one_initial ON mailer_prints (card_ref)
        WHERE kind = 'initial' AND result IN ('pending', 'printed', 'uncertain');
      CREATE INDEX mailer_prints_by_started ON mailer_prints (started_at);
    `);
  },
};

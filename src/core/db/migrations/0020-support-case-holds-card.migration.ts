import type { Migration } from '../migration';

// A reported card stays blocked while its support case is open (issue 11 item 1). The report blocks
// the card in the database, but the chip itself is still active: without this, a desk that reads
// the card (the card page, activation's reconcile of chip and record) or a PIN unblock under dual
// control would move the record back to active and silently undo the report. The support feature's
// presentation hook refuses first with a message; this trigger holds whatever code writes.
export const migration0020: Migration = {
  version: 20,
  name: 'support-case-holds-card',
  up(db) {
    db.exec(`
      CREATE TRIGGER cards_reported_stays_blocked BEFORE UPDATE OF state ON cards
        WHEN NEW.state NOT IN ('blocked', 'terminated')
          AND EXISTS (SELECT 1 FROM support_cases WHERE card_ref = OLD.id AND state <> 'reissued')
        BEGIN SELECT RAISE(ABORT, 'a reported card stays blocked while its support case is open'); END;
    `);
  },
};

import type { Migration } from '../migration';

// The contacts a support case may send its passkey to, fixed when the card is reported (issue 11
// item 2; source 004: the customer's *registered* second contact). Reading them from the customer
// at send time let one support operator — or a caller who talked one into "update my mobile" —
// change the contact after the report and receive the passkey (found by attack, docs/support.md).
// Cases opened before this migration take the contacts their customer has now. And an index on the
// case's suspicion reference: without it every suspicion event written on the verify path made
// SQLite's foreign-key check scan support_cases (query-plans.test.ts).
export const migration0021: Migration = {
  version: 21,
  name: 'support-case-contacts',
  up(db) {
    db.exec(`
      ALTER TABLE support_cases ADD COLUMN contact_email TEXT;
      ALTER TABLE support_cases ADD COLUMN contact_mobile TEXT;
      UPDATE support_cases
         SET contact_email = (SELECT email FROM customers WHERE customers.id = support_cases.customer_ref),
             contact_mobile = (SELECT mobile FROM customers WHERE customers.id = support_cases.customer_ref);
      CREATE INDEX support_cases_by_suspicion ON support_cases (suspicion_ref) WHERE suspicion_ref IS NOT NULL;
    `);
  },
};

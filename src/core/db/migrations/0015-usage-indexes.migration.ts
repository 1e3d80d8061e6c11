import type { Migration } from '../migration';

// Indexes for the usage review at scale (issue 10 item 5; docs/verification-service.md "Scale").
// With a million cards and twenty million uses, the review's questions must be answered by index
// lookups, never by reading a whole table (test/integration/verification-service/query-plans.test.ts
// checks the plans):
// - refusals by reason over a time range: (reason, at), and uses by day: (used_at, list_ref), both
//   made by 0014 for the usage review;
// - the lists whose refill is due: a partial index holding only active lists with the flag set, so
//   the desk's "refills due" reads those few rows, and a use mark that leaves the flag unset costs
//   no write to it.
// Uses per card, customer and branch need no new index: code_uses' primary key starts with the list,
// code_lists is keyed by (card_ref, seq), cards by customer, customers by branch. 0014's index on
// code_uses (used_at) costs every verification a second index write; the bench measures it.
export const migration0015: Migration = {
  version: 15,
  name: 'usage-indexes',
  up(db) {
    db.exec(`
      CREATE INDEX code_lists_refill_due ON code_lists (card_ref) WHERE refill_due = 1 AND state = 'active';
    `);
  },
};

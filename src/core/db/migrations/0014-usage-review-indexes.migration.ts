import type { Migration } from '../migration';

// Indexes for the usage review (issue 10 item 4, docs/usage-review.md), so its queries stay on
// indexes with 20 million use marks: uses per day read the range of `used_at` (covering the list
// it belongs to), refusals filtered by reason read (reason, at) over time and (card_ref, reason, at)
// per card (without it the planner answers "this card's refusals of that reason" by walking every
// refusal of the reason). Only adds indexes.
export const migration0014: Migration = {
  version: 14,
  name: 'usage-review-indexes',
  up(db) {
    db.exec(`
      CREATE INDEX code_uses_by_time ON code_uses (used_at, list_ref);
      CREATE INDEX verify_rejections_by_reason ON verify_rejections (reason, at);
      CREATE INDEX verify_rejections_by_card_reason ON verify_rejections (card_ref, reason, at);
    `);
  },
};

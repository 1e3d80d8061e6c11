import type { Migration } from '../migration';

// Who set each operator's current password and when, so dual control can refuse an approver whose
// password the initiator set or reset (docs: issue #8, item 2). Only new columns: it applies after
// any other migration that changes operators. An existing password that is no longer temporary was
// last set by its owner (the forced change saw to that); a temporary one's setter is unknown (NULL).
export const migration0005: Migration = {
  version: 5,
  name: 'password-provenance',
  up(db) {
    db.exec(`
      ALTER TABLE operators ADD COLUMN password_set_by INTEGER REFERENCES operators(id);
      ALTER TABLE operators ADD COLUMN password_set_at TEXT;
      UPDATE operators SET password_set_by = CASE WHEN must_change_password = 0 THEN id END, password_set_at = updated_at;
    `);
  },
};

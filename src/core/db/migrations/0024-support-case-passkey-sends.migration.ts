import type { Migration } from '../migration';

// How many passkeys a support case has sent since it was opened or since the manager's identity
// procedure (issue 11's passkey; docs/support.md "How many passkeys"). `passkey_serial` counts every
// passkey the case ever made and is part of each tag, so it never goes back; this count does, when a
// manager has checked the customer in person. Without a limit the desk could text or mail the
// registered contact without end: a flood for the customer, a cost for the bank. Cases open at the
// upgrade start with the full allowance.
export const migration0024: Migration = {
  version: 24,
  name: 'support-case-passkey-sends',
  up(db) {
    db.exec(`
      ALTER TABLE support_cases ADD COLUMN passkey_sends INTEGER NOT NULL DEFAULT 0 CHECK (passkey_sends >= 0);
    `);
  },
};

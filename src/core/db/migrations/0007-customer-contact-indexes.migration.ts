import type { Migration } from '../migration';

// The duplicate warning looks customers up by e-mail (case-folded) and by mobile number on every
// create and edit, and the customer page reads the audit entries about one customer and their
// cards; without these each reads its whole table. Both index forms exist in PostgreSQL.
export const migration0007: Migration = {
  version: 7,
  name: 'customer-contact-indexes',
  up(db) {
    db.exec(`
      CREATE INDEX customers_by_email ON customers (lower(email));
      CREATE INDEX customers_by_mobile ON customers (mobile);
      CREATE INDEX audit_log_by_object ON audit_log (object);
    `);
  },
};

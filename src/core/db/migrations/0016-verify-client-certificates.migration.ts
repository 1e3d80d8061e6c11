import type { Migration } from '../migration';

// Mutual TLS for the verification service (issue 10 item 1; docs/verification-service.md "Client
// certificates"). A client authenticates with an API key or with a TLS client certificate the bank
// CA of the keystore signed. A certificate client is a row of `verify_clients` like any other (its
// key_id names it, its scopes, revocation and audit are the same), with `credential = 'certificate'`
// and the certificate's SHA-256 fingerprint, serial and end of validity. Its key_hash is the hash of
// 32 random bytes nobody was shown (the column stays NOT NULL), and API-key authentication refuses a
// certificate client anyway. Only public data: the client's private key never reaches the desk.
export const migration0016: Migration = {
  version: 16,
  name: 'verify-client-certificates',
  up(db) {
    db.exec(`
      ALTER TABLE verify_clients ADD COLUMN credential TEXT NOT NULL DEFAULT 'api_key'
        CHECK (credential IN ('api_key', 'certificate'));
      ALTER TABLE verify_clients ADD COLUMN cert_fingerprint TEXT;
      ALTER TABLE verify_clients ADD COLUMN cert_serial TEXT;
      ALTER TABLE verify_clients ADD COLUMN cert_not_after TEXT;
      CREATE UNIQUE INDEX verify_clients_by_cert ON verify_clients (cert_fingerprint)
        WHERE cert_fingerprint IS NOT NULL;
    `);
  },
};

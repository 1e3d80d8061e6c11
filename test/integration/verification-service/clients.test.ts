import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AuditService } from '../../../src/core/audit/audit.service';
import { openDatabase } from '../../../src/core/db/database';
import { SqliteVerifyClientRepository } from '../../../src/core/verification/verify-client.repository';
import { VerifyClientService } from '../../../src/core/verification/verify-client.service';
import { run } from '../../../src/verify-service/verify-client-cli';
import { openVerificationCore } from '../../../src/verify-service/service-core';

// The service's clients: `npm run verify-client -- create|revoke|list` on the data directory's
// database. The key is printed once and stored nowhere (only SHA-256 of its secret); revoking takes
// effect at the next request; both are audited without the key.

describe('verify-client CLI and API keys', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'otac-clients-'));
  const env = { OTAC_DATA_DIR: dataDir };
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('creates a client whose key works once shown, is stored hashed, and stops working when revoked', async () => {
    const out = await run(['create', '--name', 'online-banking', '--scope', 'verify', '--scope', 'read'], env);
    const apiKey = /^(otac_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/m.exec(out)?.[1];
    expect(apiKey).toBeDefined();
    const keyId = apiKey!.slice(5, 21);
    expect(out).toContain(`key id ${keyId}, scopes verify read`);
    const db = openDatabase(join(dataDir, 'workstation.db'));
    try {
      const clients = new VerifyClientService(new SqliteVerifyClientRepository(db), new AuditService(db));
      expect(await clients.authenticate(apiKey!)).toMatchObject({ keyId, scopes: ['verify', 'read'] });
      // A key with one character changed, or another client's id with this secret, is refused.
      const flipped = apiKey!.slice(0, -1) + (apiKey!.endsWith('A') ? 'B' : 'A');
      expect(await clients.authenticate(flipped)).toBeNull();
      // The key is nowhere in the database file, its WAL or the audit trail.
      db.pragma('wal_checkpoint(TRUNCATE)');
      const secret = apiKey!.slice(22);
      for (const f of ['workstation.db', 'workstation.db-wal']) {
        let text = '';
        try {
          text = readFileSync(join(dataDir, f)).toString('latin1');
        } catch {
          // no WAL left after the checkpoint
        }
        expect(text.includes(secret), f).toBe(false);
      }
      expect(await run(['list'], env)).toMatch(new RegExp(`${keyId}  online-banking  \\[verify read\\]  active`));
      expect(await run(['revoke', keyId], env)).toContain('revoked');
      expect(await clients.authenticate(apiKey!)).toBeNull();
      expect((await thrownAsync(() => run(['revoke', keyId], env))).message).toContain('No active client');
      const audit = db.prepare(`SELECT action, details FROM audit_log WHERE action LIKE 'verify_client.%'`).all();
      expect(audit.map((a) => (a as { action: string }).action)).toEqual([
        'verify_client.created',
        'verify_client.revoked',
      ]);
      expect(JSON.stringify(audit)).not.toContain(secret);
    } finally {
      db.close();
    }
  });

  it('the service checks a key once, until another connection commits (a revocation applies at the next request)', async () => {
    const core = openVerificationCore({
      dataDir,
      keystore: { backend: 'software', file: join(dataDir, 'keystore', 'keystore.otacks') },
    });
    const lookups = vi.spyOn(SqliteVerifyClientRepository.prototype, 'byKeyId');
    try {
      const out = await run(['create', '--name', 'cached', '--scope', 'verify'], env);
      const apiKey = /^(otac_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/m.exec(out)?.[1] ?? '';
      const keyId = apiKey.slice(5, 21);
      expect(await core.clients.authenticate(apiKey)).toMatchObject({ keyId });
      expect(await core.clients.authenticate(apiKey)).toMatchObject({ keyId });
      expect(lookups).toHaveBeenCalledTimes(1); // the second request: no hash, no lookup
      // A wrong secret for a cached key's id is looked up and refused, and is never cached.
      const flipped = apiKey.slice(0, -1) + (apiKey.endsWith('A') ? 'B' : 'A');
      expect(await core.clients.authenticate(flipped)).toBeNull();
      expect(await core.clients.authenticate(flipped)).toBeNull();
      expect(lookups).toHaveBeenCalledTimes(3);
      // The CLI revokes on its own connection: the service's very next check refuses the key.
      await run(['revoke', keyId], env);
      expect(await core.clients.authenticate(apiKey)).toBeNull();
      expect(await core.clients.authenticate(apiKey)).toBeNull();
    } finally {
      lookups.mockRestore();
      await core.close();
    }
  });

  it('refuses an unknown scope or no name, with what to do', async () => {
    expect((await thrownAsync(() => run(['create', '--name', 'x', '--scope', 'admin'], env))).message).toContain(
      '"admin" is not one',
    );
    expect((await thrownAsync(() => run(['create', '--scope', 'verify'], env))).message).toContain('--name');
  });
});

async function thrownAsync(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

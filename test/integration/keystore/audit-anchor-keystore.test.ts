import { createPublicKey, verify } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointMessage } from '../../../src/core/audit/audit-verify';
import { entryHash, GENESIS_HASH, type AuditRow } from '../../../src/core/audit/audit.service';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import { Pkcs11Module } from '../../../src/core/keystore/pkcs11-module';
import { BACKENDS, createKeystoreFixture, SOFTHSM_LIBRARY, type KeystoreFixture } from './keystore.fixture';

// The anchor through the Keystore interface on both backends: it moves only forward along one chain,
// survives close and open, and sits where the database cannot reach it.

/** A well-formed chain of `n` entries; `edit` changes entries before hashing (a forked history). */
function chain(n: number, edit: (r: AuditRow) => AuditRow = (r) => r): AuditRow[] {
  const rows: AuditRow[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const base = edit({
      seq,
      at: `2026-01-01T00:00:${String(seq).padStart(2, '0')}.000Z`,
      operator_id: 1,
      operator: 'tom',
      role: 'clerk',
      action: seq === 5 ? 'auth.lockout' : 'test.entry',
      object: null,
      outcome: 'ok',
      details: '{}',
      prev_hash: prev,
      hash: '',
    });
    const row = { ...base, hash: entryHash(base) };
    rows.push(row);
    prev = row.hash;
  }
  return rows;
}

const at = (rows: AuditRow[], seq: number) => rows[seq - 1] as AuditRow;
const cpAt = (rows: AuditRow[], seq: number) => ({
  seq,
  hash: at(rows, seq).hash,
  signedAt: `2026-01-02T00:00:${seq}.000Z`,
});

describe.each(BACKENDS)('Keystore.signAuditCheckpoint and auditAnchor (%s)', (backend) => {
  let fx: KeystoreFixture;
  let ks: KeystoreService;
  const rows = chain(10);
  beforeEach(async () => {
    fx = createKeystoreFixture(backend);
    ks = await fx.open();
  });
  afterEach(async () => {
    await ks.close();
    fx.dispose();
  });

  it('signs the checkpoint message with the audit key and records the anchor; the first is taken as given', async () => {
    expect(await ks.auditAnchor()).toBeNull();
    const signed = await ks.signAuditCheckpoint(cpAt(rows, 3), []);
    const pem = (await ks.auditPublicKey()).pem;
    const message = checkpointMessage({
      seq: 3,
      hash: at(rows, 3).hash,
      key_id: signed.keyId,
      signed_at: cpAt(rows, 3).signedAt,
    });
    expect(verify('sha256', message, createPublicKey(pem), signed.signature)).toBe(true);
    expect(await ks.auditAnchor()).toEqual({
      seq: 3,
      hash: at(rows, 3).hash,
      at: cpAt(rows, 3).signedAt,
      keyId: signed.keyId,
    });
    expect(fx.audit.map((a) => a.action)).not.toContain('keystore.audit_anchor'); // the checkpoint itself is the record
  });

  it('moves forward only along the chain it was given, and refuses anything else with the anchor unchanged', async () => {
    await ks.signAuditCheckpoint(cpAt(rows, 3), []);
    await ks.signAuditCheckpoint(cpAt(rows, 6), rows.slice(3, 6));
    const anchor = await ks.auditAnchor();
    expect(anchor).toMatchObject({ seq: 6, hash: at(rows, 6).hash });

    // The lockout at #5 rewritten and every hash recomputed: the forked entries do not lead from #6's hash.
    const forked = chain(10, (r) => (r.seq === 5 ? { ...r, action: 'auth.signIn' } : r));
    const refusals = [
      () => ks.signAuditCheckpoint(cpAt(forked, 8), forked.slice(6, 8)),
      () => ks.signAuditCheckpoint(cpAt(forked, 8), forked.slice(3, 8)),
      // Content changed under an old hash, an entry left out, the head not reached, a different hash at the anchor.
      () => ks.signAuditCheckpoint(cpAt(rows, 8), [at(rows, 7), { ...at(rows, 8), action: 'test.other' }]),
      () => ks.signAuditCheckpoint(cpAt(rows, 8), [at(rows, 8)]),
      () => ks.signAuditCheckpoint(cpAt(rows, 8), [at(rows, 7)]),
      () => ks.signAuditCheckpoint({ ...cpAt(rows, 6), hash: at(forked, 6).hash }, []),
    ];
    for (const attempt of refusals) {
      await expect(attempt()).rejects.toMatchObject({ code: 'AUDIT_CHAIN_BROKEN' });
      expect(await ks.auditAnchor()).toEqual(anchor);
    }
    // A log that ends before the anchor (cut off) is refused too.
    await expect(ks.signAuditCheckpoint(cpAt(rows, 4), [])).rejects.toMatchObject({ code: 'AUDIT_ANCHOR_AHEAD' });
    expect(await ks.auditAnchor()).toEqual(anchor);
    const refused = fx.audit.filter((a) => a.action === 'keystore.audit_checkpoint.refused');
    expect(refused.map((a) => a.details['code'])).toEqual([
      ...refusals.map(() => 'AUDIT_CHAIN_BROKEN'),
      'AUDIT_ANCHOR_AHEAD',
    ]);

    // Signing again at the anchor, and onward along the true chain, still works.
    await ks.signAuditCheckpoint(cpAt(rows, 6), []);
    await ks.signAuditCheckpoint(cpAt(rows, 10), rows.slice(6, 10));
    expect(await ks.auditAnchor()).toMatchObject({ seq: 10, hash: at(rows, 10).hash });
  });

  it('keeps the anchor across close and open', async () => {
    await ks.signAuditCheckpoint(cpAt(rows, 4), []);
    const anchor = await ks.auditAnchor();
    await ks.close();
    ks = await fx.open();
    expect(await ks.auditAnchor()).toEqual(anchor);
  });

  if (backend === 'software') {
    it('a restore from an older backup keeps the live anchor', async () => {
      await ks.signAuditCheckpoint(cpAt(rows, 3), []);
      mkdirSync(join(fx.dir, 'backups'), { recursive: true });
      const backup = join(fx.dir, 'backups', 'older.otacbk'); // the only folder a backup may go to
      await ks.backupTo(
        backup,
        [
          { operator: 'sofia', passphrase: 'the passphrase of sofia' },
          { operator: 'omar', passphrase: 'the passphrase of omar' },
        ],
        { officer: 'sofia' },
      );
      await ks.signAuditCheckpoint(cpAt(rows, 7), rows.slice(3, 7));
      await ks.restoreFrom(backup, ['the passphrase of sofia', 'the passphrase of omar'], { officer: 'sofia' });
      expect(await ks.auditAnchor()).toMatchObject({ seq: 7, hash: at(rows, 7).hash });
      await ks.close();
      ks = await fx.open();
      expect(await ks.auditAnchor()).toMatchObject({ seq: 7 });
    });

    it('stores the anchor inside the encrypted, authenticated keystore file', async () => {
      await ks.signAuditCheckpoint(cpAt(rows, 4), []);
      await ks.close();
      const file = readFileSync(fx.keystoreFile);
      expect(file.toString('latin1')).not.toContain(at(rows, 4).hash);
      const flipped = Buffer.from(file);
      flipped[flipped.length - 20] = (flipped[flipped.length - 20] ?? 0) ^ 1;
      writeFileSync(fx.keystoreFile, flipped);
      await expect(fx.open()).rejects.toMatchObject({ code: 'KEYSTORE_TAMPERED' });
      writeFileSync(fx.keystoreFile, file);
      ks = await fx.open();
      expect(await ks.auditAnchor()).toMatchObject({ seq: 4 });
    });
  } else {
    it('stores the anchor as a private data object on the token: invisible without the PIN', async () => {
      await ks.signAuditCheckpoint(cpAt(rows, 4), []);
      await ks.signAuditCheckpoint(cpAt(rows, 5), [at(rows, 5)]);
      await ks.close();
      const token = fx.config();
      if (token.backend !== 'pkcs11') throw new Error('expected a PKCS#11 fixture');
      const module = Pkcs11Module.acquire(SOFTHSM_LIBRARY);
      try {
        const p = module.p11;
        const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.tokenLabel);
        if (!slot) throw new Error('token not found');
        const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
        const find = () => {
          p.C_FindObjectsInit(session, [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
            { type: pkcs11js.CKA_LABEL, value: 'otac-audit-anchor' },
          ]);
          const found = p.C_FindObjects(session, 10);
          p.C_FindObjectsFinal(session);
          return found;
        };
        expect(find()).toHaveLength(0);
        p.C_Login(session, pkcs11js.CKU_USER, token.pin);
        const found = find();
        expect(found).toHaveLength(1); // older generations are destroyed
        const [attr] = p.C_GetAttributeValue(session, found[0] as pkcs11js.Handle, [
          { type: pkcs11js.CKA_PRIVATE },
          { type: pkcs11js.CKA_TOKEN },
        ]);
        expect(attr?.value).toEqual(Buffer.from([1]));
        p.C_Logout(session);
        p.C_CloseSession(session);
      } finally {
        module.release();
      }
      ks = await fx.open();
      expect(await ks.auditAnchor()).toMatchObject({ seq: 5 });
    });
  }
});

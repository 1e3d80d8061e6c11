import { createPublicKey, verify } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbChainSource } from '../../../src/core/audit/audit-checkpoint.service';
import { keyIdOf } from '../../../src/core/audit/audit-signer';
import { keystoreAuditTrust } from '../../../src/core/audit/keystore-audit-signer';
import { checkpointMessage, verifyAuditChain, type CheckpointRow } from '../../../src/core/audit/audit-verify';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import type { Workstation } from '../../../src/core/workstation';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { KEYSTORE_PASSPHRASE, createKeystore } from '../../support/keys';
import { addOperator, approvalFor, setupOfficer, value, type TestOperator } from '../../support/operators';

// The workstation as composed for a desk: checkpoints are signed by the keystore's audit key,
// wait while the keystore is locked, and are signed on unlock.

describe('audit checkpoints signed with the keystore audit key', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let ws: Workstation;
  let officer: TestOperator;
  const call = (channel: string, input: unknown = {}) => ws.router.dispatch(officer.client, channel, input);
  const cps = () => ws.db.prepare('SELECT * FROM audit_checkpoints ORDER BY id').all() as CheckpointRow[];
  const headSeq = () => (ws.db.prepare('SELECT max(seq) AS seq FROM audit_log').get() as { seq: number }).seq;
  /** As the in-app check: against the keystore's key and anchor, or the chain alone while it is locked. */
  const verifyDb = async () =>
    verifyAuditChain(dbChainSource(ws.db), await keystoreAuditTrust(() => ws.keystore.currentOrNull())());
  /** `n` audited calls (each audit:verify writes one entry), then the signing queue settled. */
  const entries = async (n: number) => {
    for (let i = 0; i < n; i++) value(await call('audit:verify'));
    await ws.checkpoints.idle();
  };
  const auditKey = async () => {
    const pub = await ws.keystore.current().auditPublicKey();
    return { pem: pub.pem, kcv: pub.kcv, keyId: keyIdOf(pub.pem) };
  };

  beforeEach(async () => {
    t = freshSqliteWorkstation();
    ws = t.ws;
    officer = await setupOfficer(ws);
    const second = await addOperator(ws, 'security_officer');
    const policies = { ...DEFAULT_POLICIES, auditCheckpointEvery: 10 };
    value(
      await call('policy:update', {
        baseVersion: 0,
        policies,
        approval: await approvalFor(ws, officer, 'policy.update', second),
      }),
    );
  });
  afterEach(() => t.dispose());

  it('signs every N entries and on demand with the audit key; the signature checks against the exported public key', async () => {
    await createKeystore(ws, officer);
    await entries(12);
    const key = await auditKey();
    const auto = cps();
    expect(auto.length).toBeGreaterThan(0);
    expect(auto.every((c) => c.key_id === key.keyId)).toBe(true);
    for (const c of auto) {
      expect(verify('sha256', checkpointMessage(c), createPublicKey(key.pem), Buffer.from(c.signature, 'base64'))).toBe(
        true,
      );
    }
    // The Keys page shows the audit key's KCV: the first 6 hex digits of the key id on every checkpoint.
    const listed = value(await call('keys:list')) as { keys: { purpose: string; kcv: string }[] };
    expect(listed.keys.find((k) => k.purpose === 'audit')?.kcv).toBe(key.kcv);
    expect(key.keyId.slice(0, 6).toUpperCase()).toBe(key.kcv);

    const onDemand = value(await call('audit:checkpoint')) as { seq: number; keyId: string };
    expect(onDemand).toMatchObject({ seq: headSeq() - 1, keyId: key.keyId }); // the audit.checkpoint entry follows it
    expect(ws.db.prepare('SELECT public_key_pem FROM audit_signing_keys WHERE key_id = ?').get(key.keyId)).toEqual({
      public_key_pem: key.pem,
    });
    // Verified against an independently kept copy of the public key, and through the channel.
    const trusted = verifyAuditChain(dbChainSource(ws.db), {
      source: 'public-key',
      keys: new Map([[key.keyId, key.pem]]),
      anchor: null,
    });
    expect(trusted).toMatchObject({ ok: true, lastSignedSeq: onDemand.seq, unsignedTail: 1 });
    expect(value(await call('audit:verify'))).toMatchObject({ ok: true, lastSignedSeq: onDemand.seq });
  });

  it('while locked, due checkpoints wait (unsignedTail grows, on demand is refused); unlock signs them', async () => {
    await createKeystore(ws, officer);
    value(await call('keys:lock'));
    await ws.checkpoints.idle();
    const before = cps().length;
    const tailBefore = (await verifyDb()).unsignedTail;

    await entries(25);
    expect(cps()).toHaveLength(before);
    expect(await verifyDb()).toMatchObject({ ok: true, signatures: 'not-checked', unsignedTail: tailBefore + 25 });
    const refused = await call('audit:checkpoint');
    expect(refused).toMatchObject({ ok: false, error: { code: 'AUDIT_KEY_UNAVAILABLE' } });
    expect(refused.ok ? '' : refused.error.message).toContain('unlock it on the Keys page');

    value(await call('keys:unlock', { passphrase: KEYSTORE_PASSPHRASE }));
    await ws.checkpoints.idle();
    const key = await auditKey();
    const signed = cps().slice(before);
    expect(signed).toHaveLength(1); // one checkpoint at the head covers every entry before it
    expect(signed[0]).toMatchObject({ seq: headSeq(), key_id: key.keyId });
    expect(
      verify(
        'sha256',
        checkpointMessage(signed[0]!),
        createPublicKey(key.pem),
        Buffer.from(signed[0]!.signature, 'base64'),
      ),
    ).toBe(true);
    expect(await verifyDb()).toMatchObject({
      ok: true,
      signatures: 'keystore',
      lastSignedSeq: headSeq(),
      unsignedTail: 0,
    });
  });

  it('still detects a tampered checkpoint or entry under a keystore signature', async () => {
    await createKeystore(ws, officer);
    await entries(3);
    const cp = value(await call('audit:checkpoint')) as { seq: number };
    ws.db.exec('DROP TRIGGER audit_checkpoints_no_update');
    const row = ws.db.prepare('SELECT id, signature FROM audit_checkpoints WHERE seq = ?').get(cp.seq) as {
      id: number;
      signature: string;
    };
    const flipped = Buffer.from(row.signature, 'base64');
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    ws.db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE id = ?').run(flipped.toString('base64'), row.id);
    expect(value(await call('audit:verify'))).toMatchObject({
      ok: false,
      firstProblem: { seq: cp.seq, reason: 'bad-signature' },
    });

    ws.db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE id = ?').run(row.signature, row.id);
    ws.db.exec('DROP TRIGGER audit_log_no_update');
    ws.db.prepare("UPDATE audit_log SET operator = 'mallory' WHERE seq = 3").run();
    expect(value(await call('audit:verify'))).toMatchObject({ ok: false, firstProblem: { seq: 3, reason: 'altered' } });
  });
});

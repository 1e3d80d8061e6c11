import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAuditCli } from '../../../src/core/audit/audit-cli';
import { fingerprintOf, SoftwareAuditSigner } from '../../../src/core/audit/audit-signer';
import { checkpointMessage } from '../../../src/core/audit/audit-verify';
import { AuditService, type AuditRow } from '../../../src/core/audit/audit.service';
import type { KeystoreLocation } from '../../../src/core/keystore/keystore-holder.service';
import type { AuditAnchor } from '../../../src/core/keystore/keystore.types';
import type { AuditVerification } from '../../../src/shared/contract/audit.contract';
import { createWorkstation, type Workstation } from '../../../src/core/workstation';
import { readAuditLog, rewriteAndResign, writeAuditLog, type AuditLogCopy } from '../../support/audit-tamper';
import { setupOfficer, value, type TestOperator } from '../../support/operators';
import { BACKENDS, createKeystoreFixture, TEST_COST, type KeystoreFixture } from './keystore.fixture';

// Issue #8 item 5, as the attacker did it: with the database file, rewrite an entry (a lockout becomes a
// successful sign-in), recompute the chain, re-sign every checkpoint with a new key recorded in
// audit_signing_keys; or delete the checkpoints; or cut the log short. The in-app check trusts only the
// keystore's audit key and the anchor the keystore recorded; the CLI only the key the auditor brings.

const PASSPHRASE = 'a long keystore passphrase';
const PIN = '246810';

describe.each(BACKENDS)('the audit anchor in the %s keystore', (backend) => {
  let fx: KeystoreFixture;
  let dataDir: string;
  let location: KeystoreLocation;
  let ws: Workstation;
  let officer: TestOperator;
  const call = (channel: string, input: unknown = {}) => ws.router.dispatch(officer.client, channel, input);
  const verify = async () => value(await call('audit:verify')) as AuditVerification;
  const anchor = (): Promise<AuditAnchor | null> => ws.keystore.current().auditAnchor();
  const open = async (create: boolean) => {
    ws = createWorkstation({ dataDir, shell: 'browser', version: 'test', keystore: location });
    if (create) officer = await setupOfficer(ws);
    else
      value(
        await ws.router.dispatch(officer.client, 'auth:signIn', {
          username: officer.username,
          password: officer.password,
        }),
      );
    if (backend === 'software' && create) value(await call('keys:create', { passphrase: PASSPHRASE }));
    else value(await call('keys:unlock', { passphrase: backend === 'software' ? PASSPHRASE : PIN }));
  };
  /** A locked-out operator, and a few entries each side of two checkpoints; the anchor sits on the second. */
  let lockoutSeq: number;
  let firstCheckpoint: number;
  beforeEach(async () => {
    fx = createKeystoreFixture(backend);
    dataDir = mkdtempSync(join(tmpdir(), `otac-anchor-${backend}-`));
    const token = fx.config();
    location =
      token.backend === 'pkcs11'
        ? { backend: 'pkcs11', library: token.library, tokenLabel: token.tokenLabel }
        : { backend: 'software', file: join(dataDir, 'keystore', 'keystore.otacks'), scryptCost: TEST_COST };
    await open(true);
    const audit = new AuditService(ws.db);
    const who = { operatorId: officer.id, operator: 'tom', role: 'clerk' as const };
    audit.appendSync({ ...who, action: 'test.entry', outcome: 'ok', details: { i: 1 } });
    lockoutSeq = audit.appendSync({ ...who, action: 'auth.lockout', outcome: 'ok', details: { attempts: 5 } }).seq;
    firstCheckpoint = (value(await call('audit:checkpoint')) as { seq: number }).seq;
    for (let i = 2; i < 6; i++) audit.appendSync({ ...who, action: 'test.entry', outcome: 'ok', details: { i } });
    value(await call('audit:checkpoint'));
    await ws.checkpoints.idle();
  });
  afterEach(async () => {
    await ws.close();
    rmSync(dataDir, { recursive: true, force: true });
    fx.dispose();
  });

  /** The forgery: the lockout becomes a successful sign-in, everything recomputed and re-signed. */
  const forgeSignIn = (log: AuditLogCopy) =>
    rewriteAndResign(
      log,
      (r) => (r.seq === lockoutSeq ? { ...r, action: 'auth.signIn', details: '{}' } : r),
      SoftwareAuditSigner.generate(),
    );
  const checkpointsAndKeys = () => {
    const { checkpoints, keys } = readAuditLog(ws.db);
    return { checkpoints, keys };
  };

  it('an untouched log verifies against the keystore key and reaches the anchor; the anchor follows each checkpoint', async () => {
    const a = await anchor();
    const head = readAuditLog(ws.db).checkpoints.at(-1);
    expect(a).toMatchObject({ seq: head?.seq, hash: head?.hash, at: head?.signed_at, keyId: head?.key_id });
    const r = await verify();
    const pem = (await ws.keystore.current().auditPublicKey()).pem;
    expect(r).toMatchObject({
      ok: true,
      signatures: 'keystore',
      anchor: { seq: a?.seq, hash: a?.hash },
      auditKeyFingerprint: fingerprintOf(pem),
      notice: null,
    });
    const next = value(await call('audit:checkpoint')) as { seq: number };
    expect((await anchor())?.seq).toBe(next.seq);
  });

  it('refuses the rewritten lockout with a recomputed chain and checkpoints re-signed under a key added to audit_signing_keys', async () => {
    const a = await anchor();
    writeAuditLog(ws.db, await forgeSignIn(readAuditLog(ws.db)));
    const forged = ws.db.prepare('SELECT action FROM audit_log WHERE seq = ?').get(lockoutSeq) as { action: string };
    expect(forged.action).toBe('auth.signIn');
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.firstProblem).toMatchObject({ seq: 1, reason: 'altered' });
    expect(r.firstProblem?.message).toContain(`what the keystore recorded when it signed #${a?.seq}`);

    // The keystore will not sign the forged chain either: nothing signed, the anchor unchanged.
    const before = checkpointsAndKeys();
    const refused = await call('audit:checkpoint');
    expect(refused).toMatchObject({ ok: false, error: { code: 'AUDIT_CHAIN_BROKEN' } });
    expect(await anchor()).toEqual(a);
    expect(checkpointsAndKeys()).toEqual(before);
    // The refusal is itself evidence, and says so in the audit trail.
    const entry = ws.db
      .prepare("SELECT outcome, details FROM audit_log WHERE action = 'keystore.audit_checkpoint.refused'")
      .get() as { outcome: string; details: string } | undefined;
    expect(entry?.outcome).toBe('failed');
    expect(JSON.parse(entry?.details ?? '{}')).toMatchObject({ code: 'AUDIT_CHAIN_BROKEN', anchorSeq: a?.seq });
  });

  it('refuses a checkpoint under the audit key that lies beyond the anchor (signed around the anchor, not through it)', async () => {
    const a = await anchor();
    const audit = new AuditService(ws.db);
    const head = audit.appendSync({
      operatorId: null,
      operator: 'tom',
      role: 'clerk',
      action: 'test.entry',
      outcome: 'ok',
    });
    // Code holding the open keystore signs a checkpoint message directly, so the anchor does not move.
    const ks = ws.keystore.current();
    const keyId = (await anchor())?.keyId ?? '';
    const signedAt = new Date().toISOString();
    const message = checkpointMessage({ seq: head.seq, hash: head.hash, key_id: keyId, signed_at: signedAt });
    const signature = (await ks.signAudit(message)).toString('base64');
    const log = readAuditLog(ws.db);
    const id = Math.max(...log.checkpoints.map((c) => c.id)) + 1;
    writeAuditLog(ws.db, {
      ...log,
      checkpoints: [
        ...log.checkpoints,
        { id, seq: head.seq, hash: head.hash, signature, key_id: keyId, signed_at: signedAt },
      ],
    });
    expect(await anchor()).toEqual(a);
    const r = await verify();
    expect(r).toMatchObject({ ok: false, firstProblem: { seq: head.seq, reason: 'bad-signature' } });
    expect(r.firstProblem?.message).toContain(`beyond the keystore's anchor (#${a?.seq})`);
  });

  it('while the keystore is locked, says the signatures were not checked and to unlock it', async () => {
    writeAuditLog(ws.db, await forgeSignIn(readAuditLog(ws.db)));
    value(await call('keys:lock'));
    const r = await verify();
    expect(r).toMatchObject({
      signatures: 'not-checked',
      anchor: null,
      lastSignedSeq: null,
      auditKeyFingerprint: null,
    });
    expect(r.notice).toContain('were not checked');
    expect(r.notice).toContain('unlocks the keystore on the Keys page');
    value(await call('keys:unlock', { passphrase: backend === 'software' ? PASSPHRASE : PIN }));
    expect((await verify()).ok).toBe(false);
  });

  it('refuses a log whose checkpoints were all deleted (and their keys)', async () => {
    const a = await anchor();
    writeAuditLog(ws.db, { ...readAuditLog(ws.db), checkpoints: [], keys: [] });
    const r = await verify();
    expect(r).toMatchObject({ ok: false, firstProblem: { seq: a?.seq, reason: 'deleted' } });
    expect(r.firstProblem?.message).toContain('checkpoints were deleted');
  });

  it('refuses a rewrite up to the anchor even with every checkpoint removed', async () => {
    const forged = await forgeSignIn(readAuditLog(ws.db));
    writeAuditLog(ws.db, { ...forged, checkpoints: [], keys: readAuditLog(ws.db).keys });
    expect((await verify()).firstProblem).toMatchObject({ seq: 1, reason: 'altered' });
  });

  it('refuses a log cut off before the anchor, and the keystore will not sign the shorter log', async () => {
    const a = await anchor();
    const log = readAuditLog(ws.db);
    // Cut back to the first checkpoint, as if nothing after it had happened.
    writeAuditLog(ws.db, {
      rows: log.rows.filter((r) => r.seq <= firstCheckpoint),
      checkpoints: log.checkpoints.filter((c) => c.seq <= firstCheckpoint),
      keys: log.keys,
    });
    const r = await verify();
    expect(r).toMatchObject({ ok: false, firstProblem: { reason: 'deleted' } });
    expect(r.firstProblem?.message).toContain(`the keystore signed the log up to #${a?.seq}`);
    const before = checkpointsAndKeys();
    expect(await call('audit:checkpoint')).toMatchObject({ ok: false, error: { code: 'AUDIT_ANCHOR_AHEAD' } });
    expect(await anchor()).toEqual(a);
    expect(checkpointsAndKeys()).toEqual(before);
  });

  it('keeps the anchor outside the database: through lock, unlock and a restart', async () => {
    const a = await anchor();
    expect(JSON.stringify(ws.db.prepare("SELECT name FROM sqlite_master WHERE sql LIKE '%anchor%'").all())).toBe('[]');
    value(await call('keys:lock'));
    value(await call('keys:unlock', { passphrase: backend === 'software' ? PASSPHRASE : PIN }));
    expect(await anchor()).toEqual(a);
    await ws.close();
    await open(false);
    expect(await anchor()).toEqual(a);
    expect(await verify()).toMatchObject({ ok: true, signatures: 'keystore', anchor: { seq: a?.seq } });
  });

  it('never reports a checkpoint as deleted while it is being signed (the anchor moves before the row is written)', async () => {
    const ks = ws.keystore.current();
    const sign = ks.signAuditCheckpoint.bind(ks);
    let anchorMoved!: () => void;
    let release!: () => void;
    const moved = new Promise<void>((r) => (anchorMoved = r));
    const gate = new Promise<void>((r) => (release = r));
    // Hold the signature between the keystore's anchor and the database's checkpoint row.
    Object.assign(ks, {
      signAuditCheckpoint: async (...args: Parameters<typeof sign>) => {
        const signed = await sign(...args);
        anchorMoved();
        await gate;
        return signed;
      },
    });
    const checkpoint = call('audit:checkpoint');
    await moved;
    const verifying = call('audit:verify');
    await new Promise((r) => setTimeout(r, 50));
    release();
    expect(value(await checkpoint)).toMatchObject({ seq: (await anchor())?.seq });
    expect(value(await verifying)).toMatchObject({ ok: true, anchor: { seq: (await anchor())?.seq } });
  });

  it('the CLI requires the key, passes an untouched export and fails each tampered one', async () => {
    const exported = JSON.parse(
      (value(await call('audit:export', { format: 'json' })) as { files: { content: string }[] }).files[0]?.content ??
        '{}',
    ) as { entries: AuditRow[]; checkpoints: AuditLogCopy['checkpoints']; keys: AuditLogCopy['keys'] };
    const a = await anchor();
    const pem = (await ws.keystore.current().auditPublicKey()).pem;
    const keyFile = join(dataDir, 'audit-key.pem');
    writeFileSync(keyFile, pem);
    const cli = (doc: typeof exported, ...args: string[]) => {
      const file = join(dataDir, `export-${Math.random().toString(16).slice(2)}.json`);
      writeFileSync(file, JSON.stringify(doc));
      const lines: string[] = [];
      const code = runAuditCli(['verify', '--export', file, ...args], (l) => lines.push(l));
      return { code, out: lines.join('\n') };
    };
    const anchorArg = `${a?.seq}:${a?.hash}`;

    const noKey = cli(exported);
    expect(noKey.code).toBe(2);
    expect(noKey.out).toContain('A trusted audit key is required');
    expect(cli(exported, '--public-key', keyFile)).toMatchObject({ code: 0 });
    expect(cli(exported, '--fingerprint', fingerprintOf(pem), '--anchor', anchorArg)).toMatchObject({ code: 0 });

    const log: AuditLogCopy = { rows: exported.entries, checkpoints: exported.checkpoints, keys: exported.keys };
    const forged = await forgeSignIn(log);
    const resigned = cli(
      { ...exported, entries: forged.rows, checkpoints: forged.checkpoints, keys: forged.keys },
      '--public-key',
      keyFile,
    );
    expect(resigned.code).toBe(1);
    expect(resigned.out).toContain('(bad-signature)');
    // The same forgery checked by fingerprint: the impostor's key recorded in the file does not match it.
    expect(
      cli(
        { ...exported, entries: forged.rows, checkpoints: forged.checkpoints, keys: forged.keys },
        '--fingerprint',
        fingerprintOf(pem),
      ).code,
    ).toBe(1);

    const noCheckpoints = cli({ ...exported, checkpoints: [] }, '--public-key', keyFile);
    expect(noCheckpoints.code).toBe(1);
    expect(noCheckpoints.out).toContain('no signed checkpoint');

    const cut = {
      ...exported,
      entries: exported.entries.filter((r) => r.seq <= firstCheckpoint),
      checkpoints: exported.checkpoints.filter((c) => c.seq <= firstCheckpoint),
    };
    const cutWithAnchor = cli(cut, '--public-key', keyFile, '--anchor', anchorArg);
    expect(cutWithAnchor.code).toBe(1);
    expect(cutWithAnchor.out).toContain('(deleted)');
    // Without the anchor a clean cut at a checkpoint cannot be seen offline, and the CLI says so.
    const cutWithoutAnchor = cli(cut, '--public-key', keyFile);
    expect(cutWithoutAnchor.code).toBe(0);
    expect(cutWithoutAnchor.out).toContain('pass --anchor');
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAuditCli } from '../../../src/core/audit/audit-cli';
import { dbChainSource } from '../../../src/core/audit/audit-checkpoint.service';
import { fingerprintOf, SoftwareAuditSigner } from '../../../src/core/audit/audit-signer';
import { verifyAuditChain } from '../../../src/core/audit/audit-verify';
import { AuditService, entryHash, type AuditRow } from '../../../src/core/audit/audit.service';
import { createWorkstation, type Workstation } from '../../../src/core/workstation';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { setupOfficer, value, type TestOperator } from '../../support/operators';

// An attacker with the database file drops the append-only triggers and edits rows directly.
describe('audit verification detects tampering and names the first bad entry', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let ws: Workstation;
  let officer: TestOperator;
  const signer = SoftwareAuditSigner.generate();

  beforeEach(async () => {
    t = freshSqliteWorkstation();
    await t.ws.close();
    // Same data directory, with a signer whose key the test knows.
    ws = createWorkstation({ dataDir: t.dataDir, shell: 'browser', version: 'test', auditSigner: signer });
    officer = await setupOfficer(ws);
    const audit = new AuditService(ws.db);
    for (let i = 0; i < 11; i++) {
      audit.appendSync({
        operatorId: officer.id,
        operator: officer.username,
        role: 'security_officer',
        action: 'test.entry',
        object: `n:${i}`,
        outcome: 'ok',
        details: { i },
      });
    }
    // 12 entries; signed up to #12.
    value(await ws.router.dispatch(officer.client, 'audit:checkpoint', {}));
  });
  afterEach(async () => {
    await ws.close();
    await t.dispose();
  });

  const attacker = () => {
    ws.db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
    return ws.db;
  };
  const trusted = () => ({
    source: 'public-key' as const,
    keys: new Map([[signer.keyId(), signer.publicKeyPem()]]),
    anchor: null,
  });
  const verify = () => verifyAuditChain(dbChainSource(ws.db), trusted());
  const row = (seq: number) => ws.db.prepare('SELECT * FROM audit_log WHERE seq = ?').get(seq) as AuditRow;
  const insertRow = (r: AuditRow) =>
    ws.db
      .prepare(
        `INSERT INTO audit_log (seq, at, operator_id, operator, role, action, object, outcome, details, prev_hash, hash)
         VALUES (@seq, @at, @operator_id, @operator, @role, @action, @object, @outcome, @details, @prev_hash, @hash)`,
      )
      .run(r);
  /** Moves entries with seq >= from by `by`, through negative numbers so the primary key never collides. */
  const shift = (from: number, by: number) => {
    ws.db.prepare('UPDATE audit_log SET seq = -(seq + ?) WHERE seq >= ?').run(by, from);
    ws.db.exec('UPDATE audit_log SET seq = -seq WHERE seq < 0');
  };

  it('reports an intact log as intact, through the channel too', async () => {
    expect(verify()).toMatchObject({
      ok: true,
      entries: 13,
      checkpoints: 1,
      lastSignedSeq: 12,
      unsignedTail: 1,
      firstProblem: null,
    });
    const r = value(await ws.router.dispatch(officer.client, 'audit:verify', {}));
    expect(r).toMatchObject({ ok: true, firstProblem: null });
  });

  it('altered: a changed field', () => {
    attacker().prepare("UPDATE audit_log SET outcome = 'failed' WHERE seq = 5").run();
    expect(verify().firstProblem).toMatchObject({ seq: 5, reason: 'altered' });
  });

  it('altered: a changed entry whose hash the attacker recomputed', () => {
    const db = attacker();
    const r = { ...row(5), operator: 'mallory' };
    db.prepare('UPDATE audit_log SET operator = ?, hash = ? WHERE seq = 5').run('mallory', entryHash(r));
    expect(verify().firstProblem).toMatchObject({ seq: 5, reason: 'altered' });
  });

  it('altered: the whole chain rewritten from #5 on is caught by the signed checkpoint', () => {
    const db = attacker();
    let prev = row(4).hash;
    for (let seq = 5; seq <= 13; seq++) {
      const r = { ...row(seq), prev_hash: prev, ...(seq === 5 ? { action: 'test.forged' } : {}) };
      r.hash = entryHash(r);
      db.prepare('UPDATE audit_log SET action = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(
        r.action,
        r.prev_hash,
        r.hash,
        seq,
      );
      prev = r.hash;
    }
    expect(verify().firstProblem).toMatchObject({ seq: 1, reason: 'altered' });
    expect(verify().firstProblem?.message).toContain('#1–#12');
  });

  it('deleted: a row removed', () => {
    attacker().prepare('DELETE FROM audit_log WHERE seq = 7').run();
    expect(verify().firstProblem).toMatchObject({ seq: 7, reason: 'deleted' });
  });

  it('deleted: a row removed and the later ones renumbered', () => {
    attacker().prepare('DELETE FROM audit_log WHERE seq = 7').run();
    shift(8, -1);
    expect(verify().firstProblem).toMatchObject({ seq: 7, reason: 'deleted' });
  });

  it('deleted: the newest entries cut off below a signed checkpoint', () => {
    attacker().prepare('DELETE FROM audit_log WHERE seq >= 11').run();
    expect(verify().firstProblem).toMatchObject({ seq: 11, reason: 'deleted' });
  });

  it('inserted: a well-formed forged entry slipped in between #6 and #7', () => {
    attacker();
    shift(7, 1);
    const forged = { ...row(6), seq: 7, action: 'test.forged', prev_hash: row(6).hash };
    insertRow({ ...forged, hash: entryHash(forged) });
    expect(verify().firstProblem).toMatchObject({ seq: 7, reason: 'inserted' });
  });

  it('reordered: two entries swapped', () => {
    const db = attacker();
    db.exec(
      'UPDATE audit_log SET seq = -1 WHERE seq = 8; UPDATE audit_log SET seq = 8 WHERE seq = 9; UPDATE audit_log SET seq = 9 WHERE seq = -1;',
    );
    expect(verify().firstProblem).toMatchObject({ seq: 8, reason: 'reordered' });
  });

  it('bad signature: a checkpoint moved to another entry, or its signature altered', () => {
    ws.db.exec('DROP TRIGGER audit_checkpoints_no_update');
    const sig = (ws.db.prepare('SELECT signature FROM audit_checkpoints').get() as { signature: string }).signature;
    const flipped = Buffer.from(sig, 'base64');
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    ws.db.prepare('UPDATE audit_checkpoints SET signature = ?').run(flipped.toString('base64'));
    expect(verify().firstProblem).toMatchObject({ seq: 12, reason: 'bad-signature' });
    ws.db.prepare('UPDATE audit_checkpoints SET signature = ?, seq = 3, hash = ?').run(sig, row(3).hash);
    expect(verify().firstProblem).toMatchObject({ seq: 3, reason: 'bad-signature' });
  });

  it('bad signature: key and signature replaced in the file, caught with the trusted key, through the channel too', async () => {
    const impostor = SoftwareAuditSigner.generate();
    ws.db.exec('DROP TRIGGER audit_checkpoints_no_update');
    const cp = ws.db.prepare('SELECT * FROM audit_checkpoints').get() as {
      seq: number;
      hash: string;
      signed_at: string;
    };
    const message = Buffer.from(
      ['otac-audit-checkpoint/1', cp.seq, cp.hash, impostor.keyId(), cp.signed_at].join('\n'),
    );
    ws.db
      .prepare('UPDATE audit_checkpoints SET key_id = ?, signature = ?')
      .run(impostor.keyId(), (await impostor.sign(message)).toString('base64'));
    ws.db
      .prepare('INSERT INTO audit_signing_keys (key_id, public_key_pem, added_at) VALUES (?, ?, ?)')
      .run(impostor.keyId(), impostor.publicKeyPem(), cp.signed_at);
    // The verifier is never given the keys recorded in the file: the impostor's key is simply not trusted.
    expect(verify().firstProblem).toMatchObject({ seq: 12, reason: 'bad-signature' });
    expect(verify().firstProblem?.message).toContain('not the trusted audit key');
    const viaChannel = value(await ws.router.dispatch(officer.client, 'audit:verify', {}));
    expect(viaChannel).toMatchObject({
      ok: false,
      signatures: 'public-key',
      firstProblem: { seq: 12, reason: 'bad-signature' },
    });
  });

  it('the CLI verifies a data directory read-only against the given key and exits 1 naming the broken entry', () => {
    const lines: string[] = [];
    const keyFile = join(t.dataDir, 'audit-key.pem');
    writeFileSync(keyFile, signer.publicKeyPem());
    // Without a key of its own the CLI refuses, and says why.
    expect(runAuditCli(['verify', '--data-dir', t.dataDir], (l) => lines.push(l))).toBe(2);
    expect(lines.join('\n')).toContain('--public-key');
    expect(lines.join('\n')).toContain('prove nothing');
    lines.length = 0;
    expect(runAuditCli(['verify', '--data-dir', t.dataDir, '--public-key', keyFile], (l) => lines.push(l))).toBe(0);
    expect(
      runAuditCli(
        ['verify', '--data-dir', t.dataDir, '--fingerprint', fingerprintOf(signer.publicKeyPem())],
        () => undefined,
      ),
    ).toBe(0);
    attacker().prepare("UPDATE audit_log SET details = '{}' WHERE seq = 4").run();
    lines.length = 0;
    expect(runAuditCli(['verify', '--data-dir', t.dataDir, '--public-key', keyFile], (l) => lines.push(l))).toBe(1);
    expect(lines.join('\n')).toContain('BROKEN at #4 (altered)');
    expect(runAuditCli(['verify'], () => undefined)).toBe(2);
  });
});

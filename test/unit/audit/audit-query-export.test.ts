import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../../src/core/audit/audit-signer';
import { arrayChainSource, verifyAuditChain, type CheckpointRow } from '../../../src/core/audit/audit-verify';
import { AuditService, type AuditRow } from '../../../src/core/audit/audit.service';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { createKeystore } from '../../support/keys';
import { addOperator, setupOfficer, value, type TestOperator } from '../../support/operators';

interface Page {
  total: number;
  entries: { seq: number; action: string; operator: string | null; outcome: string; at: string }[];
}

describe('audit query and export', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  let auditor: TestOperator;
  beforeAll(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
    auditor = await addOperator(t.ws, 'auditor');
    await createKeystore(t.ws, officer); // the audit key that signs checkpoints lives in it
    await t.ws.router.dispatch('x', 'auth:signIn', { username: auditor.username, password: 'wrong 100%_' });
    // Entries on fixed days, to filter by date.
    const days = ['2025-01-01T10:00:00.000Z', '2025-01-02T23:59:59.999Z', '2025-01-03T00:00:00.000Z'];
    let i = 0;
    const audit = new AuditService(t.ws.db, () => new Date(days[i++ % days.length] ?? ''));
    for (let n = 0; n < 3; n++) {
      audit.appendSync({
        operatorId: officer.id,
        operator: officer.username,
        role: 'security_officer',
        action: 'mailer.print',
        object: `card:${n}`,
        outcome: 'ok',
        details: { n },
      });
    }
  });
  afterAll(() => t.dispose());

  const query = async (filter: Record<string, unknown>) =>
    value(await t.ws.router.dispatch(auditor.client, 'audit:query', filter)) as Page;

  it('filters by operator, action prefix, outcome, date range and text, newest first', async () => {
    const all = await query({});
    expect(all.entries.map((e) => e.seq)).toEqual([...all.entries.map((e) => e.seq)].sort((a, b) => b - a));
    expect((await query({ actionPrefix: 'mailer.' })).total).toBe(3);
    expect(
      (await query({ actionPrefix: 'mailer.', from: '2025-01-02', to: '2025-01-02' })).entries.map((e) => e.at),
    ).toEqual(['2025-01-02T23:59:59.999Z']);
    expect((await query({ operator: auditor.username.toUpperCase(), outcome: 'failed' })).entries).toEqual([
      expect.objectContaining({ action: 'auth.signIn', outcome: 'failed' }),
    ]);
    expect((await query({ text: 'card:1' })).total).toBe(1);
    // LIKE wildcards in the search text are literal.
    expect((await query({ text: '%' })).total).toBe(0);
    expect((await query({ actionPrefix: '_' })).total).toBe(0);
  });

  it('paginates', async () => {
    const all = await query({ pageSize: 200 });
    const p2 = await query({ page: 2, pageSize: 3 });
    expect(p2.total).toBe(all.total);
    expect(p2.entries.map((e) => e.seq)).toEqual(all.entries.slice(3, 6).map((e) => e.seq));
    expect(await t.ws.router.dispatch(auditor.client, 'audit:query', { pageSize: 1000 })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
  });

  it('is refused to clerks', async () => {
    const clerk = await addOperator(t.ws, 'clerk');
    expect(await t.ws.router.dispatch(clerk.client, 'audit:query', {})).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
  });

  it('exports JSON that verifies elsewhere from its own contents, and is audited', async () => {
    value(await t.ws.router.dispatch(auditor.client, 'audit:checkpoint', {}));
    const out = value(await t.ws.router.dispatch(auditor.client, 'audit:export', { format: 'json' })) as {
      files: { fileName: string; content: string }[];
    };
    expect(out.files).toHaveLength(1);
    expect(out.files[0]?.fileName).toMatch(/^audit-log-.*\.json$/);
    const doc = JSON.parse(out.files[0]?.content ?? '{}') as {
      entries: AuditRow[];
      checkpoints: CheckpointRow[];
      keys: { keyId: string; publicKeyPem: string }[];
      rules: Record<string, string>;
    };
    expect(doc.rules.entryHash).toContain('SHA-256');
    // The documented rule, recomputed independently of the service's code.
    for (const r of doc.entries) {
      const fields = [
        r.seq,
        r.at,
        r.operator_id,
        r.operator,
        r.role,
        r.action,
        r.object,
        r.outcome,
        r.details,
        r.prev_hash,
      ];
      expect(createHash('sha256').update(JSON.stringify(fields)).digest('hex')).toBe(r.hash);
    }
    // Checked against the keystore's audit key, not the keys the export carries.
    const pem = (await t.ws.keystore.current().auditPublicKey()).pem;
    const trust = {
      source: 'public-key',
      keys: new Map([[keyIdOf(pem), pem]]),
      anchor: null,
      requireCheckpoint: true,
    } as const;
    expect(doc.keys.map((k) => k.publicKeyPem)).toEqual([pem]);
    expect(verifyAuditChain(arrayChainSource(doc.entries, doc.checkpoints), trust)).toMatchObject({
      ok: true,
      checkpoints: 1,
    });
    const tampered = doc.entries.map((r) => (r.seq === 2 ? { ...r, action: 'auth.nothingHappened' } : r));
    expect(verifyAuditChain(arrayChainSource(tampered, doc.checkpoints), trust).firstProblem).toMatchObject({
      seq: 2,
      reason: 'altered',
    });
    expect((await query({ actionPrefix: 'audit.export' })).total).toBe(1);
  });

  it('exports CSV with the checkpoints, the public key and the rules beside it', async () => {
    const out = value(await t.ws.router.dispatch(auditor.client, 'audit:export', { format: 'csv' })) as {
      files: { fileName: string; content: string }[];
    };
    const names = out.files.map((f) => f.fileName);
    expect(names.some((n) => /^audit-log-.*\.csv$/.test(n))).toBe(true);
    expect(names.some((n) => /^audit-checkpoints-.*\.csv$/.test(n))).toBe(true);
    expect(out.files.find((f) => f.fileName.endsWith('.pem'))?.content).toContain('BEGIN PUBLIC KEY');
    const log = out.files.find((f) => f.fileName.startsWith('audit-log-'))?.content ?? '';
    const lines = log.trim().split('\r\n');
    expect(lines[0]).toBe('seq,at,operator_id,operator,role,action,object,outcome,details,prev_hash,hash');
    // First entry: setup by the officer; object quoted, JSON details with doubled quotes.
    expect(lines[1]).toMatch(
      /^1,"[^"]+",1,"sofia","security_officer","auth.setupFirstOfficer","operator:sofia","ok","\{\}","0{64}","[0-9a-f]{64}"$/,
    );
    // A null field (the sign-in's object) is empty and unquoted.
    expect(log).toMatch(/"auth\.signIn",,"failed"/);
  });
});

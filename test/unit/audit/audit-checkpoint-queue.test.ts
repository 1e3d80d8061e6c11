import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditCheckpointService } from '../../../src/core/audit/audit-checkpoint.service';
import { SoftwareAuditSigner, type AuditSigner } from '../../../src/core/audit/audit-signer';
import { SqliteAuditStore } from '../../../src/core/audit/audit-store';
import { AuditService, SYSTEM_ACTOR } from '../../../src/core/audit/audit.service';
import { openDatabase, type Database } from '../../../src/core/db/database';
import type { LogFields, Logger } from '../../../src/core/log';

// The append hook only schedules signing: a slow or failing signer never holds up or fails an
// append; a failure is logged and tried again at the next interval.

describe('audit checkpoint queue', () => {
  let db: Database;
  let audit: AuditService;
  let warnings: { message: string; fields?: LogFields }[];
  const log: Logger = {
    info: () => undefined,
    warn: (message, fields) => void warnings.push({ message, ...(fields ? { fields } : {}) }),
    error: () => undefined,
  };
  const real = SoftwareAuditSigner.generate();
  const append = (n: number) => {
    for (let i = 0; i < n; i++) audit.appendSync({ ...SYSTEM_ACTOR, action: 'test.entry', outcome: 'ok' });
  };
  const checkpointSeqs = () =>
    (db.prepare('SELECT seq FROM audit_checkpoints ORDER BY id').all() as { seq: number }[]).map((r) => r.seq);
  const service = (signer: AuditSigner | null) => {
    const s = new AuditCheckpointService(
      new SqliteAuditStore(db),
      audit,
      async () => signer,
      () => 10,
      log,
    );
    s.start();
    return s;
  };

  beforeEach(() => {
    db = openDatabase(':memory:');
    audit = new AuditService(db);
    warnings = [];
  });
  afterEach(() => db.close());

  it('keeps appending while a signature is outstanding, then records it', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: AuditSigner = {
      keyId: () => real.keyId(),
      publicKeyPem: () => real.publicKeyPem(),
      verify: (d, s) => real.verify(d, s),
      sign: async (d) => (await gate, real.sign(d)),
    };
    const s = service(slow);
    append(13); // #10 schedules a signature that waits on the gate
    await Promise.resolve();
    expect(checkpointSeqs()).toEqual([]);
    release();
    await s.idle();
    expect(checkpointSeqs()).toEqual([13]); // the head when the job ran
  });

  it('logs a failed signature without failing the append, and retries at the next interval', async () => {
    let calls = 0;
    const flaky: AuditSigner = {
      keyId: () => real.keyId(),
      publicKeyPem: () => real.publicKeyPem(),
      verify: (d, sig) => real.verify(d, sig),
      sign: async (d) => {
        if (++calls === 1) throw new Error('token removed');
        return real.sign(d);
      },
    };
    const s = service(flaky);
    append(10);
    await s.idle();
    expect(checkpointSeqs()).toEqual([]);
    expect(warnings).toEqual([
      { message: 'audit checkpoint not signed; retried at the next checkpoint', fields: { seq: 10, error: 'Error' } },
    ]);
    append(9); // #19: before the next interval, no retry on every append
    await s.idle();
    expect(calls).toBe(1);
    append(1); // #20
    await s.idle();
    expect(calls).toBe(2);
    expect(checkpointSeqs()).toEqual([20]);
  });

  it('without a signer, waits; signDue signs once one is there', async () => {
    let current: AuditSigner | null = null;
    const s = new AuditCheckpointService(
      new SqliteAuditStore(db),
      audit,
      async () => current,
      () => 10,
      log,
    );
    s.start();
    append(25);
    await s.idle();
    expect(checkpointSeqs()).toEqual([]);
    await expect(s.checkpointNow()).rejects.toMatchObject({ code: 'AUDIT_KEY_UNAVAILABLE' });
    current = real;
    await s.signDue();
    await s.idle();
    expect(checkpointSeqs()).toEqual([25]);
    expect(warnings).toEqual([]);
  });
});

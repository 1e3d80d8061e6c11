import { copyFileSync, existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import { BACKUP_FILE_NAME } from '../../../src/shared/contract/keys.contract';
import type { Result } from '../../../src/shared/contract';
import type { Workstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { BACKUP_PASSPHRASE, KEYSTORE_PASSPHRASE, createBackup, keystoreWithMasterKey } from '../../support/keys';
import {
  addOperator,
  approvalFor,
  auditRows,
  unissuedApproval,
  setupOfficer,
  value,
  type TestOperator,
} from '../../support/operators';

// Encrypted keystore backups through the contract (issue 5): the real router, roles, dual control
// and audit over the software keystore. A refused restore must leave the keystore file byte for byte.

const messageOf = (r: Result<unknown>): string => (r.ok ? '(no error)' : r.error.message);
type KeyRow = { id: string; purpose: string; version: number; state: string; kcv: string };

describe('keys:backup* channels', () => {
  let t: ReturnType<typeof freshWorkstation>;
  let ws: Workstation;
  let officer: TestOperator;
  let second: TestOperator;
  let backupsDir: string;
  let keystoreFile: string;
  const call = (who: TestOperator, channel: string, input: unknown = {}) =>
    ws.router.dispatch(who.client, channel, input);
  const keys = async () => (value(await call(officer, 'keys:list')) as { keys: KeyRow[] }).keys;
  const restore = async (fileName: string, passphrase = BACKUP_PASSPHRASE) =>
    call(officer, 'keys:backupRestore', {
      fileName,
      passphrase,
      approval: await approvalFor(ws, officer, 'keys.restore', second),
    });

  beforeEach(async () => {
    t = freshWorkstation();
    ws = t.ws;
    officer = await setupOfficer(ws);
    second = await addOperator(ws, 'security_officer');
    backupsDir = join(t.dataDir, 'keystore', 'backups');
    keystoreFile = join(t.dataDir, 'keystore', 'keystore.otacks');
    await keystoreWithMasterKey(ws, officer, second);
  });
  afterEach(() => t.dispose());

  it('creates and lists a backup, and a restore into a changed keystore brings the old keys back', async () => {
    expect(value(await call(officer, 'keys:backupList'))).toEqual({ backups: [] });
    value(await call(officer, 'keys:createBankCa', { commonName: 'Demo Bank CA' }));
    const before = await keys();
    expect(before.map((k) => k.purpose).sort()).toEqual(['audit', 'bank-ca', 'master']);

    const info = await createBackup(ws, officer, second);
    expect(info.fileName).toMatch(BACKUP_FILE_NAME);
    expect(Date.parse(info.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(info.sizeBytes).toBe(readFileSync(join(backupsDir, info.fileName)).length);
    expect(value(await call(officer, 'keys:backupList'))).toEqual({ backups: [info] });
    // The backup is under its own passphrase: the keystore's does not open it.
    expect(await restore(info.fileName, KEYSTORE_PASSPHRASE)).toMatchObject({
      ok: false,
      error: { code: 'KEYSTORE_WRONG_PASSPHRASE' },
    });

    // Change the keystore: a new master key supersedes the backed-up one.
    value(
      await call(officer, 'keys:generateMasterKey', {
        approval: await approvalFor(ws, officer, 'keys.ceremony', second),
      }),
    );
    const changed = await keys();
    expect(changed).toHaveLength(4);
    expect(changed.find((k) => k.purpose === 'master' && k.state === 'active')!.kcv).not.toBe(
      before.find((k) => k.purpose === 'master')!.kcv,
    );

    expect(value(await restore(info.fileName))).toEqual({ restoredKeys: 3 });
    expect(await keys()).toEqual(before);
    // Restored under the desk's passphrase: after a lock the keystore opens as before, with the old keys.
    value(await call(officer, 'keys:lock'));
    value(await call(officer, 'keys:unlock', { passphrase: KEYSTORE_PASSPHRASE }));
    expect(await keys()).toEqual(before);

    const written = auditRows(ws).find((r) => r.action === 'keystore.backup.written')!;
    expect(written).toMatchObject({ operator: officer.username, outcome: 'ok' });
    expect(JSON.parse(written.details)).toMatchObject({ approvedBy: second.username, keys: 3 });
    const restored = auditRows(ws).find((r) => r.action === 'keystore.backup.restored')!;
    expect(restored).toMatchObject({ operator: officer.username, outcome: 'ok' });
    expect(JSON.parse(restored.details)).toMatchObject({ approvedBy: second.username, keys: 3 });
    for (const row of auditRows(ws)) {
      expect(row.details ?? '').not.toContain(BACKUP_PASSPHRASE);
    }
  });

  it('refuses a wrong passphrase, a tampered or truncated file and path-like names, changing nothing', async () => {
    const { fileName } = await createBackup(ws, officer, second);
    const blob = readFileSync(join(backupsDir, fileName));
    value(
      await call(officer, 'keys:generateMasterKey', {
        approval: await approvalFor(ws, officer, 'keys.ceremony', second),
      }),
    );
    const fileBefore = readFileSync(keystoreFile);
    const keysBefore = await keys();

    const wrong = await restore(fileName, 'not the backup passphrase');
    expect(wrong).toMatchObject({ ok: false, error: { code: 'KEYSTORE_WRONG_PASSPHRASE' } });
    expect(messageOf(wrong)).toContain('not changed');
    expect(await restore(fileName, 'short')).toMatchObject({ ok: false, error: { code: 'KEYSTORE_WRONG_PASSPHRASE' } });

    const tamperedName = 'keystore-backup-20200101T000000.000Z.otacbk';
    const flipped = Buffer.from(blob);
    flipped[flipped.length - 40]! ^= 0x01;
    writeFileSync(join(backupsDir, tamperedName), flipped);
    const tampered = await restore(tamperedName);
    expect(tampered).toMatchObject({ ok: false, error: { code: 'KEYSTORE_TAMPERED' } });
    expect(messageOf(tampered)).toContain('Choose another backup');

    const truncatedName = 'keystore-backup-20200101T000001.000Z.otacbk';
    writeFileSync(join(backupsDir, truncatedName), blob.subarray(0, blob.length - 100));
    expect(await restore(truncatedName)).toMatchObject({ ok: false, error: { code: 'KEYSTORE_TRUNCATED' } });

    for (const name of [
      '../keystore.otacks',
      '../../workstation.db',
      keystoreFile,
      `${fileName}/../../keystore.otacks`,
      `..\\${fileName}`,
      fileName.toUpperCase(),
      ` ${fileName}`,
    ]) {
      const r = await restore(name);
      expect(r, name).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
    // Well formed but not there, or a symlink planted in the folder: unknown, before any approver is asked.
    const symlinkName = 'keystore-backup-20200101T000002.000Z.otacbk';
    symlinkSync(join(backupsDir, fileName), join(backupsDir, symlinkName));
    for (const name of ['keystore-backup-20990101T000000.000Z.otacbk', symlinkName]) {
      const r = await call(officer, 'keys:backupRestore', { fileName: name, passphrase: BACKUP_PASSPHRASE });
      expect(r, name).toMatchObject({ ok: false, error: { code: 'KEYSTORE_BACKUP_UNKNOWN' } });
    }

    expect(readFileSync(keystoreFile).equals(fileBefore)).toBe(true);
    expect(await keys()).toEqual(keysBefore);
    // The planted symlink is not listed either; the damaged copies are (they carry the name main gives).
    expect(
      (value(await call(officer, 'keys:backupList')) as { backups: { fileName: string }[] }).backups.map(
        (b) => b.fileName,
      ),
    ).toEqual([fileName, truncatedName, tamperedName]);
    const failed = auditRows(ws).filter((r) => r.action === 'keystore.backup.restore_failed');
    expect(failed.map((r) => (JSON.parse(r.details) as { code: string }).code)).toEqual([
      'KEYSTORE_WRONG_PASSPHRASE',
      'KEYSTORE_PASSPHRASE_WEAK',
      'KEYSTORE_TAMPERED',
      'KEYSTORE_TRUNCATED',
    ]);
    expect(failed.every((r) => r.outcome === 'failed' && r.operator === officer.username)).toBe(true);
  });

  it('needs a second security officer for both, refuses clerks and auditors, and keeps keys.restore mandatory', async () => {
    expect(await call(officer, 'keys:backupCreate', { passphrase: BACKUP_PASSPHRASE })).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(
      await call(officer, 'keys:backupCreate', {
        passphrase: BACKUP_PASSPHRASE,
        approval: await approvalFor(ws, officer, 'keys.backup', officer),
      }),
    ).toMatchObject({ ok: false, error: { code: 'APPROVAL_SAME_OPERATOR' } });
    const manager = await addOperator(ws, 'manager');
    expect(
      await call(officer, 'keys:backupCreate', {
        passphrase: BACKUP_PASSPHRASE,
        approval: await approvalFor(ws, officer, 'keys.backup', manager),
      }),
    ).toMatchObject({ ok: false, error: { code: 'APPROVAL_ROLE' } });
    expect(await call(officer, 'keys:backupCreate', { passphrase: 'too short' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(existsSync(backupsDir) ? readdirSync(backupsDir) : []).toEqual([]);

    const { fileName } = await createBackup(ws, officer, second);
    const fileBefore = readFileSync(keystoreFile);
    expect(await call(officer, 'keys:backupRestore', { fileName, passphrase: BACKUP_PASSPHRASE })).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(readFileSync(keystoreFile).equals(fileBefore)).toBe(true);

    const clerk = await addOperator(ws, 'clerk');
    const auditor = await addOperator(ws, 'auditor');
    for (const who of [clerk, auditor]) {
      for (const [channel, input] of [
        ['keys:backupList', {}],
        ['keys:backupCreate', { passphrase: BACKUP_PASSPHRASE, approval: unissuedApproval(second) }],
        ['keys:backupRestore', { fileName, passphrase: BACKUP_PASSPHRASE, approval: unissuedApproval(second) }],
      ] as const) {
        expect(await call(who, channel, input), `${who.role} ${channel}`).toMatchObject({
          ok: false,
          error: { code: 'FORBIDDEN' },
        });
      }
    }

    const off = async (action: 'keys.restore' | 'keys.backup') => ({
      baseVersion: 0,
      policies: {
        ...DEFAULT_POLICIES,
        dualControl: {
          ...DEFAULT_POLICIES.dualControl,
          [action]: { required: false, approverRoles: ['security_officer'] },
        },
      },
      approval: await approvalFor(ws, officer, 'policy.update', second),
    });
    const relaxRestore = await call(officer, 'policy:update', await off('keys.restore'));
    expect(relaxRestore).toMatchObject({ ok: false });
    expect(messageOf(relaxRestore)).toContain('keys.restore always needs a second approver');
    // keys.backup may be relaxed by policy (it changes no key); restore never.
    value(await call(officer, 'policy:update', await off('keys.backup')));
    expect(value(await call(officer, 'keys:backupCreate', { passphrase: BACKUP_PASSPHRASE }))).toMatchObject({
      fileName: expect.stringMatching(BACKUP_FILE_NAME) as unknown,
    });
  });

  it('refuses while locked and restores no backup in the middle of a ceremony', async () => {
    const { fileName } = await createBackup(ws, officer, second);
    copyFileSync(join(backupsDir, fileName), join(backupsDir, 'keystore-backup-20200101T000000.000Z.otacbk'));
    value(
      await call(officer, 'keys:ceremonyBegin', {
        components: 2,
        approval: await approvalFor(ws, officer, 'keys.ceremony', second),
      }),
    );
    expect(await restore(fileName)).toMatchObject({ ok: false, error: { code: 'KEYSTORE_CEREMONY_IN_PROGRESS' } });
    value(await call(officer, 'keys:ceremonyAbort'));

    value(await call(officer, 'keys:lock'));
    expect(await call(officer, 'keys:backupCreate', { passphrase: BACKUP_PASSPHRASE })).toMatchObject({
      ok: false,
      error: { code: 'KEYSTORE_LOCKED' },
    });
    expect(await restore(fileName)).toMatchObject({ ok: false, error: { code: 'KEYSTORE_LOCKED' } });
    // The list needs no keys: it is the folder's content.
    expect((value(await call(officer, 'keys:backupList')) as { backups: unknown[] }).backups).toHaveLength(2);
  });
});

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import { BACKUP_FILE_NAME } from '../../../src/shared/contract/keys.contract';
import type { Result } from '../../../src/shared/contract';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { PassphraseKekProvider } from '../../../src/core/keystore/kek-provider';
import { encodeKeystoreFile } from '../../../src/core/keystore/keystore-file.codec';
import { backupHeaderOf, withBackupHeader } from '../../support/backup-header';
import { freshWorkstation } from '../../support/fresh-workstation';
import { TEST_COST } from './keystore.fixture';
import {
  APPROVER_BACKUP_PASSPHRASE,
  BACKUP_PASSPHRASE,
  BACKUP_PASSPHRASES,
  KEYSTORE_PASSPHRASE,
  createBackup,
  keystoreWithMasterKey,
} from '../../support/keys';
import {
  addOperator,
  approvalFor,
  auditRows,
  setupOfficer,
  unissuedApproval,
  value,
  type TestOperator,
} from '../../support/operators';

// Encrypted keystore backups through the contract (issue 5): the real router, roles, dual control
// and audit over the software keystore. A refused restore must leave the keystore file byte for byte.

const messageOf = (r: Result<unknown>): string => (r.ok ? '(no error)' : r.error.message);
type KeyRow = { id: string; purpose: string; version: number; state: string; kcv: string };

/** Every restore attempt here derives two custodian keys, and the attacks below make many: cheap scrypt. */
const cheapScryptWorkstation = () => freshWorkstation({ keystoreScryptCost: TEST_COST });

describe('keys:backup* channels', () => {
  let t: Awaited<ReturnType<typeof cheapScryptWorkstation>>;
  let ws: DeskWorkstation;
  let officer: TestOperator;
  let second: TestOperator;
  let backupsDir: string;
  let keystoreFile: string;
  const call = (who: TestOperator, channel: string, input: unknown = {}) =>
    ws.router.dispatch(who.client, channel, input);
  // The keystore records as it acts; on PostgreSQL an entry commits moments after the call answers.
  const keystoreAudit = async () => {
    await ws.keystore.settled();
    return auditRows(ws);
  };
  const keys = async () => (value(await call(officer, 'keys:list')) as { keys: KeyRow[] }).keys;
  const restore = async (fileName: string, custodianPassphrases: readonly string[] = BACKUP_PASSPHRASES) =>
    call(officer, 'keys:backupRestore', {
      fileName,
      custodianPassphrases,
      approval: await approvalFor(ws, officer, 'keys.restore', second),
    });

  beforeEach(async () => {
    t = await cheapScryptWorkstation();
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
    expect(info.custodians).toEqual([officer.username, second.username]);
    expect(value(await call(officer, 'keys:backupList'))).toEqual({ backups: [info] });
    // The backup is under its custodians' own passphrases: the keystore's does not open it.
    expect(await restore(info.fileName, [KEYSTORE_PASSPHRASE, APPROVER_BACKUP_PASSPHRASE])).toMatchObject({
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

    const written = (await keystoreAudit()).find((r) => r.action === 'keystore.backup.written')!;
    expect(written).toMatchObject({ operator: officer.username, outcome: 'ok' });
    expect(JSON.parse(written.details)).toMatchObject({
      approvedBy: second.username,
      custodians: `${officer.username},${second.username}`,
      keys: 3,
    });
    const restored = (await keystoreAudit()).find((r) => r.action === 'keystore.backup.restored')!;
    expect(restored).toMatchObject({ operator: officer.username, outcome: 'ok' });
    expect(JSON.parse(restored.details)).toMatchObject({ approvedBy: second.username, keys: 3 });
    for (const row of await keystoreAudit()) {
      for (const secret of BACKUP_PASSPHRASES) expect(row.details ?? '').not.toContain(secret);
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

    const wrong = await restore(fileName, [BACKUP_PASSPHRASE, 'not the backup passphrase']);
    expect(wrong).toMatchObject({ ok: false, error: { code: 'KEYSTORE_WRONG_PASSPHRASE' } });
    expect(messageOf(wrong)).toContain(`custodian ${second.username}`);
    expect(messageOf(wrong)).toContain('not changed');
    expect(await restore(fileName, ['short', APPROVER_BACKUP_PASSPHRASE])).toMatchObject({
      ok: false,
      error: { code: 'KEYSTORE_WRONG_PASSPHRASE' },
    });

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
      const r = await call(officer, 'keys:backupRestore', { fileName: name, custodianPassphrases: BACKUP_PASSPHRASES });
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
    const failed = (await keystoreAudit()).filter((r) => r.action === 'keystore.backup.restore_failed');
    expect(failed.map((r) => (JSON.parse(r.details) as { code: string }).code)).toEqual([
      'KEYSTORE_WRONG_PASSPHRASE',
      'KEYSTORE_PASSPHRASE_WEAK',
      'KEYSTORE_TAMPERED',
      'KEYSTORE_TRUNCATED',
    ]);
    expect(failed.every((r) => r.outcome === 'failed' && r.operator === officer.username)).toBe(true);
  });

  it('needs a second security officer for both, refuses clerks and auditors, and keeps both mandatory', async () => {
    const withApprover = async (approver: TestOperator) => ({
      passphrase: BACKUP_PASSPHRASE,
      approverPassphrase: APPROVER_BACKUP_PASSPHRASE,
      approval: await approvalFor(ws, officer, 'keys.backup', approver),
    });
    expect(await call(officer, 'keys:backupCreate', { passphrase: BACKUP_PASSPHRASE })).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(await call(officer, 'keys:backupCreate', await withApprover(officer))).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_SAME_OPERATOR' },
    });
    const manager = await addOperator(ws, 'manager');
    expect(await call(officer, 'keys:backupCreate', await withApprover(manager))).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_ROLE' },
    });
    // The approver's passphrase comes with the approval, never without it.
    for (const input of [
      { passphrase: BACKUP_PASSPHRASE, approval: unissuedApproval(second) },
      { passphrase: BACKUP_PASSPHRASE, approverPassphrase: APPROVER_BACKUP_PASSPHRASE },
      { ...(await withApprover(second)), approverPassphrase: 'too short' },
    ]) {
      expect(await call(officer, 'keys:backupCreate', input)).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION' },
      });
    }
    expect(await call(officer, 'keys:backupCreate', { passphrase: 'too short' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(existsSync(backupsDir) ? readdirSync(backupsDir) : []).toEqual([]);

    const { fileName } = await createBackup(ws, officer, second);
    const fileBefore = readFileSync(keystoreFile);
    expect(
      await call(officer, 'keys:backupRestore', { fileName, custodianPassphrases: BACKUP_PASSPHRASES }),
    ).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(readFileSync(keystoreFile).equals(fileBefore)).toBe(true);

    const clerk = await addOperator(ws, 'clerk');
    const auditor = await addOperator(ws, 'auditor');
    for (const who of [clerk, auditor]) {
      for (const [channel, input] of [
        ['keys:backupList', {}],
        [
          'keys:backupCreate',
          {
            passphrase: BACKUP_PASSPHRASE,
            approverPassphrase: APPROVER_BACKUP_PASSPHRASE,
            approval: unissuedApproval(second),
          },
        ],
        [
          'keys:backupRestore',
          { fileName, custodianPassphrases: BACKUP_PASSPHRASES, approval: unissuedApproval(second) },
        ],
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
    // Neither can be switched off: a backup copies every key out, a restore replaces them all.
    for (const action of ['keys.restore', 'keys.backup'] as const) {
      const relax = await call(officer, 'policy:update', await off(action));
      expect(relax).toMatchObject({ ok: false });
      expect(messageOf(relax)).toContain(`${action} always needs a second approver`);
    }
    expect(await call(officer, 'keys:backupCreate', { passphrase: BACKUP_PASSPHRASE })).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(readdirSync(backupsDir)).toEqual([fileName]);
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

  describe('split knowledge (issue 8)', () => {
    const THIRD_PASSPHRASE = 'the third officer keeps this';
    const stamp = (n: number) => `keystore-backup-20200101T00000${n}.000Z.otacbk`;
    it('one officer alone cannot make a backup: no approver, themselves as approver, one passphrase for both', async () => {
      const attempts = [
        [{ passphrase: BACKUP_PASSPHRASE }, 'APPROVAL_REQUIRED'],
        [
          {
            passphrase: BACKUP_PASSPHRASE,
            approverPassphrase: APPROVER_BACKUP_PASSPHRASE,
            approval: await approvalFor(ws, officer, 'keys.backup', officer),
          },
          'APPROVAL_SAME_OPERATOR',
        ],
        [
          {
            passphrase: BACKUP_PASSPHRASE,
            approverPassphrase: APPROVER_BACKUP_PASSPHRASE,
            approval: {
              ...(await approvalFor(ws, officer, 'keys.backup', officer)),
              username: officer.username.toUpperCase(),
            },
          },
          'APPROVAL_SAME_OPERATOR',
        ],
        // The approver is real, but one secret for both custodians is one person's knowledge.
        [
          {
            passphrase: BACKUP_PASSPHRASE,
            approverPassphrase: BACKUP_PASSPHRASE,
            approval: await approvalFor(ws, officer, 'keys.backup', second),
          },
          'KEYSTORE_BACKUP_SAME_PASSPHRASE',
        ],
      ] as const;
      // All at once, as a script would send them.
      const results = await Promise.all(attempts.map(([input]) => call(officer, 'keys:backupCreate', input)));
      for (const [i, r] of results.entries()) {
        expect(r, attempts[i]![1]).toMatchObject({ ok: false, error: { code: attempts[i]![1] } });
      }
      expect(existsSync(backupsDir) ? readdirSync(backupsDir) : []).toEqual([]);
      expect((await keystoreAudit()).filter((r) => r.action === 'keystore.backup.written')).toEqual([]);
      const refused = (await keystoreAudit()).filter((r) => r.action === 'keystore.backup.refused');
      expect(refused).toEqual([expect.objectContaining({ operator: officer.username, outcome: 'failed' })]);
      expect(JSON.parse(refused[0]!.details)).toMatchObject({ code: 'KEYSTORE_BACKUP_SAME_PASSPHRASE' });
    });

    it('one custodian alone cannot open a backup: one passphrase, the other, a swapped or planted share, one passphrase twice', async () => {
      value(await call(officer, 'keys:createBankCa', { commonName: 'Demo Bank CA' }));
      const atBackup = await keys();
      const a = await createBackup(ws, officer, second);
      const third = await addOperator(ws, 'security_officer');
      const b = await createBackup(ws, officer, second);
      const c = value(
        await call(officer, 'keys:backupCreate', {
          passphrase: BACKUP_PASSPHRASE,
          approverPassphrase: THIRD_PASSPHRASE,
          approval: await approvalFor(ws, officer, 'keys.backup', third),
        }),
      ) as { fileName: string; custodians: string[] };
      expect(c.custodians).toEqual([officer.username, third.username]);
      const blob = (name: string) => readFileSync(join(backupsDir, name));
      const blobA = blob(a.fileName);

      // Slots swapped; slot 2 from another backup of the same pair; slot 2 from one the officer made with a third.
      writeFileSync(
        join(backupsDir, stamp(1)),
        withBackupHeader(blobA, (h) => h.custodians.reverse()),
      );
      writeFileSync(
        join(backupsDir, stamp(2)),
        withBackupHeader(blobA, (h) => (h.custodians[1] = backupHeaderOf(blob(b.fileName)).custodians[1]!)),
      );
      writeFileSync(
        join(backupsDir, stamp(3)),
        withBackupHeader(blobA, (h) => (h.custodians[1] = backupHeaderOf(blob(c.fileName)).custodians[1]!)),
      );

      value(
        await call(officer, 'keys:generateMasterKey', {
          approval: await approvalFor(ws, officer, 'keys.ceremony', second),
        }),
      );
      const fileBefore = readFileSync(keystoreFile);
      const keysBefore = await keys();
      const auditBefore = (await keystoreAudit()).length;

      const attempts: [string, readonly string[], string][] = [
        [a.fileName, [BACKUP_PASSPHRASE, 'a guess at the other one'], 'KEYSTORE_WRONG_PASSPHRASE'],
        [a.fileName, ['a guess at the other one', APPROVER_BACKUP_PASSPHRASE], 'KEYSTORE_WRONG_PASSPHRASE'],
        [a.fileName, [APPROVER_BACKUP_PASSPHRASE, BACKUP_PASSPHRASE], 'KEYSTORE_WRONG_PASSPHRASE'],
        [a.fileName, [BACKUP_PASSPHRASE, BACKUP_PASSPHRASE], 'KEYSTORE_BACKUP_SAME_PASSPHRASE'],
        [a.fileName, [APPROVER_BACKUP_PASSPHRASE, APPROVER_BACKUP_PASSPHRASE], 'KEYSTORE_BACKUP_SAME_PASSPHRASE'],
        [stamp(1), [APPROVER_BACKUP_PASSPHRASE, BACKUP_PASSPHRASE], 'KEYSTORE_WRONG_PASSPHRASE'],
        [stamp(2), BACKUP_PASSPHRASES, 'KEYSTORE_WRONG_PASSPHRASE'],
        [stamp(3), [BACKUP_PASSPHRASE, THIRD_PASSPHRASE], 'KEYSTORE_WRONG_PASSPHRASE'],
      ];
      for (const [fileName, passphrases, code] of attempts) {
        const r = await restore(fileName, passphrases);
        expect(r, `${fileName} ${code}`).toMatchObject({ ok: false, error: { code } });
        expect(messageOf(r)).toContain('not changed');
      }
      // Concurrent one-passphrase attempts: none gets through (a second one waits its turn or is told so).
      const burst = await Promise.all(
        [0, 1, 2, 3].map((i) => restore(a.fileName, [BACKUP_PASSPHRASE, `guess number ${i} of the other`])),
      );
      for (const r of burst) {
        expect(r.ok).toBe(false);
        expect(['KEYSTORE_WRONG_PASSPHRASE', 'KEYSTORE_BUSY']).toContain(r.ok ? 'ok' : r.error.code);
      }

      expect(readFileSync(keystoreFile).equals(fileBefore)).toBe(true);
      expect(await keys()).toEqual(keysBefore);
      expect((await keystoreAudit()).slice(auditBefore).filter((r) => r.action === 'keystore.backup.restored')).toEqual(
        [],
      );

      // The two custodians together bring the keys back, with the same check values.
      expect(value(await restore(a.fileName))).toEqual({ restoredKeys: atBackup.length });
      expect((await keys()).map((k) => [k.purpose, k.version, k.kcv])).toEqual(
        atBackup.map((k) => [k.purpose, k.version, k.kcv]),
      );
    });

    it('refuses a backup in the old one-passphrase format, and lists it without custodians', async () => {
      const { kek, params } = await new PassphraseKekProvider(BACKUP_PASSPHRASE, { N: 2 ** 10, r: 8, p: 1 }).create();
      mkdirSync(backupsDir, { recursive: true });
      writeFileSync(
        join(backupsDir, stamp(4)),
        encodeKeystoreFile(Buffer.from('{"metadata":"null","keys":[]}'), kek, params),
      );
      const fileBefore = readFileSync(keystoreFile);
      expect(await restore(stamp(4), [BACKUP_PASSPHRASE, APPROVER_BACKUP_PASSPHRASE])).toMatchObject({
        ok: false,
        error: { code: 'KEYSTORE_BACKUP_FORMAT' },
      });
      expect(readFileSync(keystoreFile).equals(fileBefore)).toBe(true);
      const listed = (value(await call(officer, 'keys:backupList')) as { backups: { custodians: string[] }[] }).backups;
      expect(listed).toEqual([expect.objectContaining({ fileName: stamp(4), custodians: [] })]);
    });
  });
});

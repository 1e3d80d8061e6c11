import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keystoreLocationFromEnv } from '../../../src/core/keystore/keystore-holder.service';
import { createWorkstation, type Workstation } from '../../../src/core/workstation';
import { addOperator, approvalFor, setupOfficer, value, type TestOperator } from '../../support/operators';
import { createKeystoreFixture, type KeystoreFixture } from './keystore.fixture';

// OTAC_KEYSTORE=pkcs11: the same Keys channels over a SoftHSM token. The token is initialised
// with the vendor's tools (here softhsm2-util), so there is nothing to create; the PIN unlocks it.

describe('keys:* over a PKCS#11 token (SoftHSM)', () => {
  let fx: KeystoreFixture;
  let ws: Workstation;
  let dataDir: string;
  let officer: TestOperator;
  let second: TestOperator;

  beforeAll(async () => {
    fx = createKeystoreFixture('pkcs11');
    const token = fx.config();
    if (token.backend !== 'pkcs11') throw new Error('expected a PKCS#11 fixture');
    dataDir = mkdtempSync(join(tmpdir(), 'otac-pkcs11-ws-'));
    const location = keystoreLocationFromEnv(
      { OTAC_KEYSTORE: 'pkcs11', OTAC_PKCS11_MODULE: token.library, OTAC_PKCS11_TOKEN_LABEL: token.tokenLabel },
      dataDir,
    );
    ws = createWorkstation({ dataDir, shell: 'browser', version: 'test', keystore: location });
    officer = await setupOfficer(ws);
    second = await addOperator(ws, 'security_officer');
  });
  afterAll(async () => {
    await ws.close();
    rmSync(dataDir, { recursive: true, force: true });
    fx.dispose();
  });

  it('is locked at start, refuses create, refuses a wrong PIN and opens with the right one', async () => {
    expect(value(await ws.router.dispatch(officer.client, 'keys:status', {}))).toMatchObject({
      state: 'locked',
      backend: 'pkcs11',
    });
    expect(
      await ws.router.dispatch(officer.client, 'keys:create', { passphrase: 'a long enough passphrase' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'KEYSTORE_CREATE_UNSUPPORTED' },
    });
    expect(await ws.router.dispatch(officer.client, 'keys:unlock', { passphrase: '999999' })).toMatchObject({
      ok: false,
      error: { code: 'HSM_LOGIN_FAILED' },
    });
    expect(value(await ws.router.dispatch(officer.client, 'keys:unlock', { passphrase: '246810' }))).toMatchObject({
      state: 'unlocked',
    });
    const mk = value(
      await ws.router.dispatch(officer.client, 'keys:generateMasterKey', {
        approval: await approvalFor(ws, officer, 'keys.ceremony', second),
      }),
    );
    expect(mk).toMatchObject({ purpose: 'master', version: 1, state: 'active' });
    // An HSM is backed up with the vendor's tools; the refusal comes before any approver is asked.
    const backup = await ws.router.dispatch(officer.client, 'keys:backupCreate', {
      passphrase: 'a long backup passphrase',
    });
    expect(backup).toMatchObject({ ok: false, error: { code: 'KEYSTORE_BACKUP_UNSUPPORTED' } });
    expect(backup.ok ? '' : backup.error.message).toContain("HSM vendor's tools");
    expect(value(await ws.router.dispatch(officer.client, 'keys:backupList', {}))).toEqual({ backups: [] });
    value(await ws.router.dispatch(officer.client, 'keys:lock', {}));
    expect(value(await ws.router.dispatch(officer.client, 'keys:status', {}))).toMatchObject({ state: 'locked' });
  });

  it('reads the location from the environment, refusing half a configuration', () => {
    expect(keystoreLocationFromEnv({}, '/data')).toEqual({
      backend: 'software',
      file: join('/data', 'keystore', 'keystore.otacks'),
    });
    expect(() =>
      keystoreLocationFromEnv({ OTAC_KEYSTORE: 'pkcs11', OTAC_PKCS11_MODULE: '/lib/x.so' }, '/data'),
    ).toThrow(/OTAC_PKCS11_TOKEN_LABEL/);
    expect(() => keystoreLocationFromEnv({ OTAC_KEYSTORE: 'hsm' }, '/data')).toThrow(/software.*pkcs11/);
  });
});

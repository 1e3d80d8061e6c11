import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkstation, type Workstation } from '../../../src/core/workstation';
import { CHEAP_SCRYPT, prepareKeystore } from '../../support/activation-cards';
import { OFFICER } from '../../support/fresh-workstation';
import { KEYSTORE_PASSPHRASE } from '../../support/keys';
import { OFFICER_CLIENT, addOperator, setupOfficer, value, type TestOperator } from '../../support/operators';
import { reportedCase } from '../../support/support-cases';
import { passkeyIn, smsSink, supportOptions, type SmsSink } from '../../support/support-channels';

// Issue 11 item 5: a case continues where it stood after the workstation restarts — its step and its
// passkey live in the database, not in a window. The passkey sent before the restart still verifies
// after it (once the security officer has unlocked the keystore again: the tag is the keystore's).

describe('a support case survives a restart of the workstation', () => {
  let dataDir: string;
  let sms: SmsSink;
  let ws: Workstation | null = null;
  const start = () =>
    createWorkstation({
      dataDir,
      shell: 'browser',
      version: 'test',
      keystore: { backend: 'software', file: join(dataDir, 'keystore', 'keystore.otacks'), scryptCost: CHEAP_SCRYPT },
      support: supportOptions(null, sms),
    });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'otac-support-'));
    sms = await smsSink();
  });
  afterAll(async () => {
    await ws?.close();
    await sms?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the case at "enter the passkey" after the restart, and the passkey sent before it verifies', async () => {
    ws = start();
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    const support: TestOperator = await addOperator(ws, 'support', 'sam');
    const { caseId } = await reportedCase(ws, support);
    value(await ws.router.dispatch(support.client, 'support:sendPasskey', { caseId, channel: 'sms' }));
    const passkey = passkeyIn(sms.messages.at(-1)?.body.text ?? '');
    await ws.close();

    ws = start();
    value(
      await ws.router.dispatch(OFFICER_CLIENT, 'auth:signIn', {
        username: OFFICER.username,
        password: OFFICER.password,
      }),
    );
    value(await ws.router.dispatch(support.client, 'auth:signIn', { username: 'sam', password: support.password }));
    const list = value(await ws.router.dispatch(support.client, 'support:cases', {})) as {
      cases: { id: number; step: string; passkey: { channel: string } | null }[];
    };
    const resumed = list.cases.find((c) => c.id === caseId);
    expect(resumed).toMatchObject({ step: 'enter', passkey: { channel: 'sms' } });
    // the keystore is locked after a restart: refused with what to do, nothing counted
    const locked = await ws.router.dispatch(support.client, 'support:enterPasskey', { caseId, passkey });
    expect(locked).toMatchObject({ ok: false, error: { code: 'KEYSTORE_LOCKED' } });
    expect(ws.db.prepare('SELECT failures, state FROM support_cases WHERE id = ?').get(caseId)).toEqual({
      failures: 0,
      state: 'passkey_sent',
    });
    value(await ws.router.dispatch(OFFICER_CLIENT, 'keys:unlock', { passphrase: KEYSTORE_PASSPHRASE }));
    expect(value(await ws.router.dispatch(support.client, 'support:enterPasskey', { caseId, passkey }))).toMatchObject({
      result: 'verified',
      case: { step: 'reissue' },
    });
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHEAP_SCRYPT, prepareKeystore } from '../../support/activation-cards';
import { OFFICER, restartableWorkstation, type RestartableDesk } from '../../support/fresh-workstation';
import { KEYSTORE_PASSPHRASE } from '../../support/keys';
import { OFFICER_CLIENT, addOperator, setupOfficer, value, type TestOperator } from '../../support/operators';
import { reportedCase } from '../../support/support-cases';
import { passkeyIn, smsSink, supportOptions, type SmsSink } from '../../support/support-channels';

// Issue 11 item 5: a case continues where it stood after the workstation restarts — its step and its
// passkey live in the database, not in a window. The passkey sent before the restart still verifies
// after it (once the security officer has unlocked the keystore again: the tag is the keystore's).

describe('a support case survives a restart of the workstation', () => {
  let sms: SmsSink;
  let desk: RestartableDesk | null = null;

  beforeAll(async () => {
    sms = await smsSink();
  });
  afterAll(async () => {
    await desk?.dispose();
    await sms?.close();
  });

  it('shows the case at "enter the passkey" after the restart, and the passkey sent before it verifies', async () => {
    desk = await restartableWorkstation({ keystoreScryptCost: CHEAP_SCRYPT, support: supportOptions(null, sms) });
    let ws = desk.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    const support: TestOperator = await addOperator(ws, 'support', 'sam');
    const { caseId } = await reportedCase(ws, support);
    value(await ws.router.dispatch(support.client, 'support:sendPasskey', { caseId, channel: 'sms' }));
    const passkey = passkeyIn(sms.messages.at(-1)?.body.text ?? '');

    ws = await desk.restart();
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
    expect(await desk.sql.get('SELECT failures, state FROM support_cases WHERE id = ?', caseId)).toEqual({
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

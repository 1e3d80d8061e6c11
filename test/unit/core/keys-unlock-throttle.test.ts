import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { createKeystore, KEYSTORE_PASSPHRASE } from '../../support/keys';
import { auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';

describe('keys:unlock is throttled', { timeout: 90_000 }, () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let officer: TestOperator;
  beforeEach(async () => {
    t = freshSqliteWorkstation();
    officer = await setupOfficer(t.ws);
    await createKeystore(t.ws, officer);
    value(await t.ws.router.dispatch(officer.client, 'keys:lock', {}));
  });
  afterEach(() => t.dispose());

  const unlock = (passphrase: string) => t.ws.router.dispatch(officer.client, 'keys:unlock', { passphrase });

  it('after five wrong passphrases even the right one is refused for now, without trying it', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await unlock(`not the passphrase ${i}`);
      if (!r.ok) codes.push(r.error.code);
    }
    expect(codes).toEqual(Array(5).fill('KEYSTORE_WRONG_PASSPHRASE'));
    const before = (await auditRows(t.ws)).length;
    expect(await unlock(KEYSTORE_PASSPHRASE)).toMatchObject({ ok: false, error: { code: 'KEYSTORE_THROTTLED' } });
    expect(await t.ws.router.dispatch(officer.client, 'keys:status', {})).toMatchObject({
      ok: true,
      value: { state: 'locked' },
    });
    // The keystore was not opened (no open_failed entry), and the refusal is on record.
    expect((await auditRows(t.ws)).slice(before)).toEqual([
      expect.objectContaining({
        action: 'keys.unlock',
        outcome: 'denied',
        details: JSON.stringify({ code: 'KEYSTORE_THROTTLED' }),
      }),
    ]);
  });

  it('a burst of concurrent guesses tries at most five', async () => {
    const before = (await auditRows(t.ws)).length;
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => unlock(`concurrent guess ${i}`)));
    const codes = results.map((r) => (r.ok ? 'ok' : r.error.code));
    // The holder opens one at a time (the rest answer KEYSTORE_BUSY); the throttle refuses all but five.
    expect(codes.filter((c) => c === 'KEYSTORE_WRONG_PASSPHRASE' || c === 'KEYSTORE_BUSY')).toHaveLength(5);
    expect(codes.filter((c) => c === 'KEYSTORE_THROTTLED')).toHaveLength(25);
    // Every refusal is on record (the router's entry or the holder's own).
    expect((await auditRows(t.ws)).length - before).toBeGreaterThanOrEqual(30);
    expect(await t.ws.router.dispatch(officer.client, 'keys:status', {})).toMatchObject({ value: { state: 'locked' } });
  });

  it('the right passphrase within the free tries unlocks and starts the count afresh', async () => {
    for (let i = 0; i < 4; i++) await unlock(`not the passphrase ${i}`);
    value(await unlock(KEYSTORE_PASSPHRASE));
    value(await t.ws.router.dispatch(officer.client, 'keys:lock', {}));
    for (let i = 0; i < 4; i++)
      expect(await unlock(`again not it ${i}`)).toMatchObject({ error: { code: 'KEYSTORE_WRONG_PASSPHRASE' } });
  });
});

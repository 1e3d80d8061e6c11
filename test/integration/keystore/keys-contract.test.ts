import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy.service';
import { kcvAes } from '../../../src/core/crypto/kcv';
import { freshWorkstation } from '../../support/fresh-workstation';
import { COMPONENT_HEX, KEYSTORE_PASSPHRASE, componentKcv, createKeystore, masterKeyOf } from '../../support/keys';
import {
  addOperator,
  approvalFor,
  approvalOf,
  auditRows,
  unissuedApproval,
  setupOfficer,
  value,
  type TestOperator,
} from '../../support/operators';
import type { DeskWorkstation } from '../../../src/core/workstation';
import type { Result } from '../../../src/shared/contract';

const auditKeyInfo = expect.objectContaining({
  purpose: 'audit',
  version: 1,
  state: 'active',
  algorithm: 'EC-P256',
}) as unknown;
const messageOf = (r: Result<unknown>): string => (r.ok ? '(no error)' : r.error.message);

// The keystore through the contract, as the Keys page drives it: the real router, roles,
// dual control and audit, over the software keystore in a fresh data directory.

describe('keys:* channels', () => {
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let ws: DeskWorkstation;
  let officer: TestOperator;
  let second: TestOperator;
  const call = (who: TestOperator, channel: string, input: unknown = {}) =>
    ws.router.dispatch(who.client, channel, input);
  // The keystore records as it acts; on PostgreSQL an entry commits moments after the call answers.
  const keystoreAudit = async () => {
    await ws.keystore.settled();
    return auditRows(ws);
  };

  beforeEach(async () => {
    t = await freshWorkstation();
    ws = t.ws;
    officer = await setupOfficer(ws);
    second = await addOperator(ws, 'security_officer');
  });
  afterEach(() => t.dispose());

  it('starts not created; create, lock, and a wrong passphrase leaves the file untouched', async () => {
    expect(value(await call(officer, 'keys:status'))).toMatchObject({
      state: 'not-created',
      backend: 'software',
      masterKey: null,
    });
    expect(await call(officer, 'keys:list')).toMatchObject({ ok: false, error: { code: 'KEYSTORE_LOCKED' } });
    expect(messageOf(await call(officer, 'keys:list'))).toContain('unlock it on the Keys page');
    expect(await call(officer, 'keys:create', { passphrase: 'too short' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });

    await createKeystore(ws, officer);
    expect(value(await call(officer, 'keys:status'))).toMatchObject({ state: 'unlocked' });
    expect(await call(officer, 'keys:create', { passphrase: KEYSTORE_PASSPHRASE })).toMatchObject({
      ok: false,
      error: { code: 'KEYSTORE_EXISTS' },
    });
    expect(value(await call(officer, 'keys:lock'))).toMatchObject({ state: 'locked' });

    const file = join(t.dataDir, 'keystore', 'keystore.otacks');
    const before = readFileSync(file);
    for (const passphrase of ['a wrong but long passphrase', 'short']) {
      const r = await call(officer, 'keys:unlock', { passphrase });
      expect(r).toMatchObject({ ok: false, error: { code: 'KEYSTORE_WRONG_PASSPHRASE' } });
      expect(messageOf(r)).toContain('nothing was changed');
    }
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(value(await call(officer, 'keys:status'))).toMatchObject({ state: 'locked' });
    const failed = (await keystoreAudit()).filter((r) => r.action === 'keystore.open_failed');
    expect(failed).toHaveLength(2);
    expect(failed.every((r) => r.outcome === 'failed' && r.operator === officer.username)).toBe(true);

    expect(value(await call(officer, 'keys:unlock', { passphrase: KEYSTORE_PASSPHRASE }))).toMatchObject({
      state: 'unlocked',
    });
  });

  it('holds a 3-component ceremony under dual control, checking each KCV and the master key KCV', async () => {
    await createKeystore(ws, officer);
    const custodians = [officer, second, await addOperator(ws, 'security_officer')];
    expect(await call(officer, 'keys:ceremonyBegin', { components: 3 })).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(
      await call(officer, 'keys:ceremonyBegin', {
        components: 3,
        approval: await approvalFor(ws, officer, 'keys.ceremony', officer),
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_SAME_OPERATOR' },
    });
    expect(
      value(
        await call(officer, 'keys:ceremonyBegin', {
          components: 3,
          approval: await approvalFor(ws, officer, 'keys.ceremony', second),
        }),
      ),
    ).toEqual({
      components: 3,
      entered: [],
    });

    // A component that does not match its sheet is refused and not kept.
    const wrongSheet = await call(officer, 'keys:ceremonyEnterComponent', {
      index: 1,
      component: COMPONENT_HEX[0],
      custodian: approvalOf(officer),
      expectedKcv: '000000',
    });
    expect(wrongSheet).toMatchObject({ ok: false, error: { code: 'CEREMONY_KCV_MISMATCH' } });
    const badFormat = await call(officer, 'keys:ceremonyEnterComponent', {
      index: 1,
      component: COMPONENT_HEX[0].slice(2),
      custodian: approvalOf(officer),
    });
    expect(badFormat).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(messageOf(badFormat)).toContain('64 hexadecimal');
    expect(JSON.stringify(badFormat)).not.toContain(COMPONENT_HEX[0].slice(2, 40));

    for (const [i, hex] of COMPONENT_HEX.entries()) {
      // Typed in groups, lower case, as from a sheet: only the 64 hex digits count.
      const typed = hex.match(/.{8}/g)!.join(' ');
      const r = value(
        await call(officer, 'keys:ceremonyEnterComponent', {
          index: i + 1,
          component: typed,
          custodian: approvalOf(custodians[i]!),
          expectedKcv: componentKcv(hex).toLowerCase(),
        }),
      );
      expect(r).toEqual({ index: i + 1, kcv: componentKcv(hex) });
    }
    expect(value(await call(officer, 'keys:ceremonyProgress'))).toEqual({
      ceremony: { components: 3, entered: [1, 2, 3] },
    });

    const mkKcv = kcvAes(masterKeyOf(COMPONENT_HEX));
    expect(
      await call(officer, 'keys:ceremonyFinish', { expectedKcv: mkKcv === 'ABCDEF' ? '123456' : 'ABCDEF' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'CEREMONY_KCV_MISMATCH' },
    });
    const mk = value(await call(officer, 'keys:ceremonyFinish', { expectedKcv: mkKcv }));
    expect(mk).toMatchObject({
      purpose: 'master',
      version: 1,
      state: 'active',
      kcv: mkKcv,
      origin: 'components',
      algorithm: 'AES-256',
    });
    // The audit key came with the keystore; the master key is the only other one.
    expect(value(await call(officer, 'keys:list'))).toEqual({ keys: [auditKeyInfo, mk] });
    expect(value(await call(officer, 'keys:status'))).toMatchObject({
      masterKey: { version: 1, kcv: mkKcv },
      ceremony: null,
    });

    const begun = (await keystoreAudit()).find((r) => r.action === 'keystore.ceremony.begun')!;
    expect(begun.operator).toBe(officer.username);
    expect(JSON.parse(begun.details)).toMatchObject({ approvedBy: second.username, components: 3 });
    // Each component names the custodian who signed it with their own credentials, and no component.
    const entered = (await keystoreAudit()).filter((r) => r.action === 'keystore.ceremony.component_entered');
    expect(entered.map((r) => JSON.parse(r.details) as Record<string, unknown>)).toEqual(
      custodians.map((c, i): unknown =>
        expect.objectContaining({
          index: i + 1,
          custodianId: c.id,
          custodian: c.username,
          kcv: componentKcv(COMPONENT_HEX[i]!),
        }),
      ),
    );
    expect(entered.every((r) => r.operator === officer.username)).toBe(true);
    const finished = (await keystoreAudit()).find((r) => r.action === 'keystore.ceremony.finished')!;
    expect(JSON.parse(finished.details)).toMatchObject({ custodians: custodians.map((c) => c.username).join(',') });
    for (const row of await keystoreAudit()) {
      for (const hex of COMPONENT_HEX) expect(row.details ?? '').not.toContain(hex.slice(0, 16));
      for (const c of custodians) expect(row.details ?? '').not.toContain(c.password);
    }
  });

  it('aborts a ceremony, and locking mid-ceremony aborts it too', async () => {
    await createKeystore(ws, officer);
    value(
      await call(officer, 'keys:ceremonyBegin', {
        components: 2,
        approval: await approvalFor(ws, officer, 'keys.ceremony', second),
      }),
    );
    value(
      await call(officer, 'keys:ceremonyEnterComponent', {
        index: 1,
        component: COMPONENT_HEX[0],
        custodian: approvalOf(officer),
      }),
    );
    value(await call(officer, 'keys:ceremonyAbort'));
    expect(value(await call(officer, 'keys:ceremonyProgress'))).toEqual({ ceremony: null });
    expect(await call(officer, 'keys:ceremonyFinish')).toMatchObject({
      ok: false,
      error: { code: 'CEREMONY_NOT_STARTED' },
    });

    value(
      await call(officer, 'keys:ceremonyBegin', {
        components: 2,
        approval: await approvalFor(ws, officer, 'keys.ceremony', second),
      }),
    );
    value(await call(officer, 'keys:lock'));
    value(await call(officer, 'keys:unlock', { passphrase: KEYSTORE_PASSPHRASE }));
    expect(value(await call(officer, 'keys:ceremonyProgress'))).toEqual({ ceremony: null });
    expect((await keystoreAudit()).filter((r) => r.action === 'keystore.ceremony.aborted')).toHaveLength(2);
  });

  it('shows a card key state and retires it; an unknown card is not issued by looking it up', async () => {
    await createKeystore(ws, officer);
    value(
      await call(officer, 'keys:generateMasterKey', {
        approval: await approvalFor(ws, officer, 'keys.ceremony', second),
      }),
    );
    const issued = await ws.keystore.current().cardKey('N-42');

    expect(await call(officer, 'keys:cardKeyState', { n: 'N-43' })).toMatchObject({
      ok: false,
      error: { code: 'CARD_KEY_UNKNOWN' },
    });
    expect(await call(officer, 'keys:retireCardKey', { n: 'N-43', reason: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'CARD_KEY_UNKNOWN' },
    });
    expect(await t.sql.get('SELECT count(*) AS c FROM card_key_series')).toEqual({ c: 1 });

    expect(value(await call(officer, 'keys:cardKeyState', { n: 'N-42' }))).toEqual({
      n: 'N-42',
      sn: 1,
      mkVersion: 1,
      pendingSn: null,
      retiredSns: 0,
      kcv: issued.kcv,
    });
    const retired = value(await call(officer, 'keys:retireCardKey', { n: 'N-42', reason: 'reported cloned' })) as {
      sn: number;
      kcv: string;
      retiredSns: number;
    };
    expect(retired).toMatchObject({ n: 'N-42', sn: 2, retiredSns: 1 });
    expect(retired.kcv).not.toBe(issued.kcv);
    await expect(ws.keystore.current().cardKey('N-42', 1)).rejects.toMatchObject({ code: 'CARD_KEY_RETIRED' });
    const row = (await keystoreAudit()).find((r) => r.action === 'keystore.card_key.retired')!;
    expect(row).toMatchObject({ operator: officer.username, object: 'N-42', outcome: 'ok' });
  });

  it('creates the demo bank CA and the issuer key; the certificate is public PEM', async () => {
    await createKeystore(ws, officer);
    expect(await call(officer, 'keys:createIssuerKey', { commonName: 'Issuer' })).toMatchObject({ ok: false });
    value(await call(officer, 'keys:createBankCa', { commonName: 'Demo Bank CA' }));
    const s = value(await call(officer, 'keys:createIssuerKey', { commonName: 'OTAC Issuer' }));
    expect(s).toMatchObject({ purpose: 'issuer-signing', algorithm: 'EC-P256', state: 'active' });
    const { pem } = value(await call(officer, 'keys:issuerCertificate')) as { pem: string };
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(pem).not.toContain('PRIVATE');
  });

  it('refuses a clerk everything and lets an auditor only read', async () => {
    await createKeystore(ws, officer);
    const clerk = await addOperator(ws, 'clerk');
    const auditor = await addOperator(ws, 'auditor');
    for (const [channel, input] of [
      ['keys:status', {}],
      ['keys:list', {}],
      ['keys:lock', {}],
      ['keys:cardKeyState', { n: 'N-1' }],
      ['keys:ceremonyBegin', { components: 2, approval: unissuedApproval(second) }],
    ] as const) {
      expect(await call(clerk, channel, input), channel).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    }
    expect(value(await call(auditor, 'keys:status'))).toMatchObject({ state: 'unlocked' });
    expect(value(await call(auditor, 'keys:list'))).toEqual({ keys: [auditKeyInfo] });
    expect(await call(auditor, 'keys:lock')).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(value(await call(officer, 'keys:status'))).toMatchObject({ state: 'unlocked' });
  });

  describe('split knowledge in the ceremony (issue 8)', () => {
    const enter = (
      index: number,
      custodian: { username: string; password: string },
      component = COMPONENT_HEX[index - 1]!,
    ) => call(officer, 'keys:ceremonyEnterComponent', { index, component, custodian });
    const progress = async () => value(await call(officer, 'keys:ceremonyProgress'));
    const failedAttempts = async (id: number) =>
      (await t.sql.get<{ failed_attempts: number }>('SELECT failed_attempts FROM operators WHERE id = ?', id))
        ?.failed_attempts;
    const rejected = async () =>
      (await keystoreAudit())
        .filter((r) => r.action === 'keystore.ceremony.component_rejected')
        .map((r) => ({ outcome: r.outcome, ...(JSON.parse(r.details) as { reason: string; custodian: string }) }));

    beforeEach(async () => {
      await createKeystore(ws, officer);
    });

    it('refuses the same operator for a second component, also at once, and a component someone else entered', async () => {
      value(
        await call(officer, 'keys:ceremonyBegin', {
          components: 2,
          approval: await approvalFor(ws, officer, 'keys.ceremony', second),
        }),
      );
      value(await enter(1, approvalOf(officer)));
      const before = await progress();

      expect(await enter(2, approvalOf(officer))).toMatchObject({
        ok: false,
        error: { code: 'CEREMONY_CUSTODIAN_REPEATED' },
      });
      expect(await enter(1, approvalOf(second))).toMatchObject({
        ok: false,
        error: { code: 'CEREMONY_COMPONENT_TAKEN' },
      });
      expect(await progress()).toEqual(before);
      expect(await call(officer, 'keys:ceremonyFinish')).toMatchObject({
        ok: false,
        error: { code: 'CEREMONY_INCOMPLETE' },
      });
      expect(
        (value(await call(officer, 'keys:list')) as { keys: { purpose: string }[] }).keys.map((k) => k.purpose),
      ).toEqual(['audit']);
      expect(await rejected()).toEqual([
        expect.objectContaining({
          outcome: 'failed',
          reason: 'custodian_repeated',
          custodian: officer.username,
          index: 2,
        }),
        expect.objectContaining({ outcome: 'failed', reason: 'component_taken', custodian: second.username, index: 1 }),
      ]);

      // A fresh ceremony: one custodian sends both components at the same moment; only one is kept.
      value(
        await call(officer, 'keys:ceremonyBegin', {
          components: 2,
          approval: await approvalFor(ws, officer, 'keys.ceremony', second),
        }),
      );
      const both = await Promise.all([enter(1, approvalOf(second)), enter(2, approvalOf(second))]);
      expect(both.filter((r) => r.ok)).toHaveLength(1);
      expect(both.find((r) => !r.ok)).toMatchObject({ ok: false, error: { code: 'CEREMONY_CUSTODIAN_REPEATED' } });
      expect((await progress()) as { ceremony: { entered: number[] } }).toMatchObject({
        ceremony: { entered: [expect.any(Number) as unknown] },
      });
    });

    it("refuses a wrong custodian password, counting it toward that custodian's lockout, with nothing kept", async () => {
      // No ceremony: refused before anyone's password is checked, so nobody's lockout moves.
      expect(await enter(1, { username: second.username, password: 'not the password' })).toMatchObject({
        ok: false,
        error: { code: 'CEREMONY_NOT_STARTED' },
      });
      expect(await failedAttempts(second.id)).toBe(0);

      value(
        await call(officer, 'keys:ceremonyBegin', {
          components: 2,
          approval: await approvalFor(ws, officer, 'keys.ceremony', second),
        }),
      );
      const wrong = await enter(1, { username: second.username, password: 'not the password' });
      expect(wrong).toMatchObject({ ok: false, error: { code: 'CEREMONY_CUSTODIAN_FAILED' } });
      expect(JSON.stringify(wrong)).not.toContain(COMPONENT_HEX[0]);
      expect(await failedAttempts(second.id)).toBe(1);
      expect(await progress()).toEqual({ ceremony: { components: 2, entered: [] } });
      const attempts = (await keystoreAudit()).filter((r) => r.action === 'keys.ceremony.custodian');
      expect(attempts).toEqual([expect.objectContaining({ operator: second.username, outcome: 'failed' })]);

      // On to the policy's limit: then not even the right password enters a component.
      const limit = DEFAULT_POLICIES.maxFailedSignIns;
      for (let i = 1; i < limit; i++) await enter(1, { username: second.username, password: `wrong ${i}` });
      expect((await enter(1, approvalOf(second))).ok).toBe(false);
      expect(await progress()).toEqual({ ceremony: { components: 2, entered: [] } });
    });

    it('takes custodians from security officers on a password of their own only', async () => {
      value(
        await call(officer, 'keys:ceremonyBegin', {
          components: 2,
          approval: await approvalFor(ws, officer, 'keys.ceremony', second),
        }),
      );
      const manager = await addOperator(ws, 'manager');
      expect(await enter(1, approvalOf(manager))).toMatchObject({
        ok: false,
        error: { code: 'CEREMONY_CUSTODIAN_ROLE' },
      });
      // A new officer still on the temporary password the first officer chose is that officer's puppet.
      value(
        await call(officer, 'admin:createOperator', {
          username: 'puppet',
          displayName: 'Puppet Officer',
          role: 'security_officer',
          temporaryPassword: 'the puppet temporary pw',
          approval: await approvalFor(ws, officer, 'operator.privileged', second),
        }),
      );
      value(await enter(1, approvalOf(officer)));
      expect(await enter(2, { username: 'puppet', password: 'the puppet temporary pw' })).toMatchObject({
        ok: false,
        error: { code: 'CEREMONY_CUSTODIAN_TEMPORARY' },
      });
      expect(await progress()).toEqual({ ceremony: { components: 2, entered: [1] } });
      expect((await rejected()).map((r) => r.reason)).toEqual(['custodian_role', 'custodian_temporary_password']);
    });
  });
});

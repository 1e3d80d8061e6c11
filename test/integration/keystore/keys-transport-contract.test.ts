import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../src/card-sim/dev-transport-key';
import { deriveTransportKey } from '../../../src/core/card/protocol/sm-crypto';
import { kcvAes, xorComponents } from '../../../src/core/crypto/kcv';
import { keystoreLocationFromEnv } from '../../../src/core/keystore/keystore-holder.service';
import { createWorkstation, type DeskWorkstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { registerDeskSql, sqliteSql, testEngine } from '../../support/test-engine';
import type { Result } from '../../../src/shared/contract';
import { testMailer } from '../../support/mailer';
import {
  KEYSTORE_PASSPHRASE,
  TRANSPORT_COMPONENT_HEX,
  TRANSPORT_KCV,
  beginTransportCeremony,
  componentKcv,
  createKeystore,
  loadTransportKey,
} from '../../support/keys';
import {
  addOperator,
  approvalFor,
  approvalOf,
  auditRows,
  setupOfficer,
  value,
  type TestOperator,
} from '../../support/operators';
import { BACKENDS, createKeystoreFixture, type BackendName, type KeystoreFixture } from './keystore.fixture';

// Loading the card vendor's transport master key (VTMK) at the desk, through the Keys channels as
// the Keys page drives them: two security officers each type one component sheet with their own
// credentials and see only its check value, the combined key is stored only when its check value
// matches the vendor's sheet, and the begin (and a removal) needs a second officer's approval.
// Every refusal leaves the keystore as it was. Over the software keystore and a SoftHSM token.

const CARD_ID = Buffer.from('0011223344556677', 'hex');
/** A rotated vendor key, on three sheets. */
const ROTATED_HEX = ['0f'.repeat(16), 'e1'.repeat(8) + '17'.repeat(8), '9b'.repeat(4) + '3d'.repeat(12)] as const;
const ROTATED = xorComponents(ROTATED_HEX.map((h) => Buffer.from(h, 'hex')));

interface Desk {
  ws: DeskWorkstation;
  dataDir: string;
  unlockSecret: string;
  dispose(): Promise<void>;
}

/**
 * A workstation on a fresh data directory whose keystore is the software file (the desk on the run's
 * engine) or a fresh SoftHSM token (a desk on its own SQLite file: freshWorkstation takes no token).
 */
async function deskOn(backend: BackendName): Promise<Desk> {
  if (backend === 'software') {
    const t = await freshWorkstation();
    return { ws: t.ws, dataDir: t.dataDir, unlockSecret: KEYSTORE_PASSPHRASE, dispose: t.dispose };
  }
  const dataDir = mkdtempSync(join(tmpdir(), `otac-vtmk-${backend}-`));
  const fx: KeystoreFixture = createKeystoreFixture('pkcs11');
  const token = fx.config();
  if (token.backend !== 'pkcs11') throw new Error('expected a PKCS#11 fixture');
  const env = { OTAC_KEYSTORE: 'pkcs11', OTAC_PKCS11_MODULE: token.library, OTAC_PKCS11_TOKEN_LABEL: token.tokenLabel };
  const ws = createWorkstation({
    dataDir,
    shell: 'browser',
    version: 'test',
    mailer: testMailer(),
    keystore: keystoreLocationFromEnv(env, dataDir),
  });
  registerDeskSql(ws, sqliteSql(ws.db)); // auditRows looks behind the desk through deskSql
  return {
    ws,
    dataDir,
    unlockSecret: '246810',
    dispose: async () => {
      await ws.close();
      rmSync(dataDir, { recursive: true, force: true });
      fx.dispose();
    },
  };
}

// The token's desk is on SQLite whatever the run: the PostgreSQL pass runs the software half only.
const RUN_BACKENDS = testEngine === 'postgres' ? BACKENDS.filter((b) => b === 'software') : BACKENDS;

const codeOf = (r: Result<unknown>) => (r.ok ? 'OK' : r.error.code);

describe.each(RUN_BACKENDS)('the vendor transport key through the Keys channels (%s)', (backend) => {
  let desk: Desk;
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
  const status = async () =>
    value(await call(officer, 'keys:status')) as {
      transportKey: { version: number; kcv: string } | null;
      transportCeremony: { components: number; entered: number[] } | null;
    };
  const enter = (index: number, who: { username: string; password: string }, component: string, extra = {}) =>
    call(officer, 'keys:transportEnterComponent', { index, component, custodian: who, ...extra });
  /** The KCV of the blank card's transport key the keystore derives now, or the refusal's code. */
  const cardTransportKcv = async () => {
    try {
      const handle = await ws.keystore.current().transportKey(CARD_ID);
      await ws.keystore.current().release(handle);
      return handle.kcv;
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  /** Everything a refusal must leave as it was. */
  const snapshot = async () => ({
    status: await status(),
    card: await cardTransportKcv(),
    keys: value(await call(officer, 'keys:list')),
  });

  beforeEach(async () => {
    desk = await deskOn(backend);
    ws = desk.ws;
    officer = await setupOfficer(ws);
    second = await addOperator(ws, 'security_officer');
    if (backend === 'software') await createKeystore(ws, officer);
    else value(await call(officer, 'keys:unlock', { passphrase: desk.unlockSecret }));
  });
  afterEach(async () => desk.dispose());

  it('loads the key from two officers’ sheets, showing each check value, and stores it only on the sheet’s KCV', async () => {
    expect(await status()).toMatchObject({ transportKey: null, transportCeremony: null });
    expect(await cardTransportKcv()).toBe('KEYSTORE_NO_TRANSPORT_KEY');

    // The begin is dual control: without an approver, or approving oneself, nothing begins.
    expect(codeOf(await call(officer, 'keys:transportBegin', { components: 2 }))).toBe('APPROVAL_REQUIRED');
    const self = await approvalFor(ws, officer, 'keys.ceremony', officer);
    expect(codeOf(await call(officer, 'keys:transportBegin', { components: 2, approval: self }))).toBe(
      'APPROVAL_SAME_OPERATOR',
    );
    expect((await status()).transportCeremony).toBeNull();
    await beginTransportCeremony(ws, officer, second);
    expect((await status()).transportCeremony).toEqual({ components: 2, entered: [] });

    // Each officer sees their component's check value, never the component.
    const first = await enter(1, approvalOf(officer), TRANSPORT_COMPONENT_HEX[0], {
      expectedKcv: componentKcv(TRANSPORT_COMPONENT_HEX[0]).toLowerCase(),
    });
    expect(value(first)).toEqual({ index: 1, kcv: componentKcv(TRANSPORT_COMPONENT_HEX[0]) });
    // Grouped as on the sheet (spaces, dashes) is the same component.
    const grouped = TRANSPORT_COMPONENT_HEX[1].match(/.{4}/g)!.join(' - ');
    expect(value(await enter(2, approvalOf(second), grouped))).toEqual({
      index: 2,
      kcv: componentKcv(TRANSPORT_COMPONENT_HEX[1]),
    });

    // A combined key that is not the vendor's (a wrong KCV on the finish) stores nothing; the officers may retry.
    const wrong = await call(officer, 'keys:transportFinish', { expectedKcv: '000000' });
    expect(codeOf(wrong)).toBe('CEREMONY_KCV_MISMATCH');
    expect(wrong.ok ? '' : wrong.error.message).toContain('nothing was stored');
    expect(codeOf(await call(officer, 'keys:transportFinish', {}))).toBe('VALIDATION');
    expect(await status()).toMatchObject({ transportKey: null, transportCeremony: { entered: [1, 2] } });
    expect(await cardTransportKcv()).toBe('KEYSTORE_NO_TRANSPORT_KEY');

    expect(value(await call(officer, 'keys:transportFinish', { expectedKcv: TRANSPORT_KCV }))).toEqual({
      version: 1,
      kcv: TRANSPORT_KCV,
    });
    expect(await status()).toMatchObject({ transportKey: { version: 1, kcv: TRANSPORT_KCV }, transportCeremony: null });
    // The blank card's key comes from the vendor's key: its KCV is the one the card was made with.
    expect(await cardTransportKcv()).toBe(kcvAes(deriveTransportKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, CARD_ID)));
    // The key list stays for the keys the contract can show; the transport key is in the status.
    expect(
      (value(await call(officer, 'keys:list')) as { keys: { purpose: string }[] }).keys.map((k) => k.purpose),
    ).toEqual(['audit']);

    // Audited with KCVs and names only: who began, who approved, who entered which component.
    const rows = (await keystoreAudit()).filter((r) => /^keystore\.transport_/.test(r.action));
    expect(rows.map((r) => [r.action, r.outcome])).toEqual([
      ['keystore.transport_ceremony.begun', 'ok'],
      ['keystore.transport_ceremony.component_entered', 'ok'],
      ['keystore.transport_ceremony.component_entered', 'ok'],
      ['keystore.transport_key.import_refused', 'failed'],
      ['keystore.transport_key.imported', 'ok'],
      ['keystore.transport_ceremony.finished', 'ok'],
    ]);
    const details = rows.map((r) => JSON.parse(r.details) as Record<string, unknown>);
    expect(details[0]).toMatchObject({ officer: officer.username, approvedBy: second.username });
    expect(details[1]).toMatchObject({ custodian: officer.username, kcv: componentKcv(TRANSPORT_COMPONENT_HEX[0]) });
    expect(details[2]).toMatchObject({ custodian: second.username, kcv: componentKcv(TRANSPORT_COMPONENT_HEX[1]) });
    expect(details[3]).toMatchObject({ reason: 'kcv_mismatch', kcv: TRANSPORT_KCV });
    expect(details[4]).toMatchObject({ officer: officer.username, approvedBy: second.username, kcv: TRANSPORT_KCV });
    expect(details[5]).toMatchObject({ custodians: `${officer.username},${second.username}` });

    // It survives a lock: the key is in the keystore file / on the token, not in memory only.
    value(await call(officer, 'keys:lock'));
    value(await call(officer, 'keys:unlock', { passphrase: desk.unlockSecret }));
    expect((await status()).transportKey).toEqual({ version: 1, kcv: TRANSPORT_KCV });
    expect(await cardTransportKcv()).toBe(kcvAes(deriveTransportKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, CARD_ID)));
  });

  it('refuses a malformed, weak or mistyped component with a clear error, keeping nothing', async () => {
    await beginTransportCeremony(ws, officer, second);
    const before = await snapshot();
    const typed = [
      TRANSPORT_COMPONENT_HEX[0].slice(1), // 31 digits
      `${TRANSPORT_COMPONENT_HEX[0]}00`, // 34 digits
      'a5'.repeat(32), // a master-key component (32 bytes)
      `${TRANSPORT_COMPONENT_HEX[0].slice(0, 30)}zz`, // not hex
    ];
    for (const component of typed) {
      const r = await enter(1, approvalOf(officer), component);
      expect(r).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
      expect(r.ok ? '' : r.error.message).toContain('32 hexadecimal characters');
      expect(JSON.stringify(r)).not.toContain(component);
    }
    const zeros = await enter(1, approvalOf(officer), '00'.repeat(16));
    expect(codeOf(zeros)).toBe('CEREMONY_COMPONENT_WEAK');
    const sheet = await enter(1, approvalOf(officer), TRANSPORT_COMPONENT_HEX[0], { expectedKcv: 'ABCDEF' });
    expect(codeOf(sheet)).toBe('CEREMONY_KCV_MISMATCH');
    expect(sheet.ok ? '' : sheet.error.message).toContain('nothing was kept');
    // The same component on both sheets would cancel out to zero: refused as a repeat.
    value(await enter(1, approvalOf(officer), TRANSPORT_COMPONENT_HEX[0]));
    expect(codeOf(await enter(2, approvalOf(second), TRANSPORT_COMPONENT_HEX[0]))).toBe('CEREMONY_COMPONENT_WEAK');
    expect(codeOf(await call(officer, 'keys:transportFinish', { expectedKcv: TRANSPORT_KCV }))).toBe(
      'CEREMONY_INCOMPLETE',
    );
    expect(await snapshot()).toEqual({
      ...before,
      status: { ...before.status, transportCeremony: { components: 2, entered: [1] } },
    });
    expect(JSON.stringify(await keystoreAudit())).not.toContain(TRANSPORT_COMPONENT_HEX[0]);
  });

  it('refuses one officer entering both components, a clerk, a manager and a replayed approval, changing nothing', async () => {
    const clerk = await addOperator(ws, 'clerk');
    const manager = await addOperator(ws, 'manager');
    const before = await snapshot();
    // Clerks and managers have no Keys channels at all.
    for (const who of [clerk, manager]) {
      expect(codeOf(await call(who, 'keys:transportBegin', { components: 2 }))).toBe('FORBIDDEN');
      expect(
        codeOf(
          await call(who, 'keys:transportEnterComponent', {
            index: 1,
            component: TRANSPORT_COMPONENT_HEX[0],
            custodian: approvalOf(who),
          }),
        ),
      ).toBe('FORBIDDEN');
      expect(codeOf(await call(who, 'keys:transportFinish', { expectedKcv: TRANSPORT_KCV }))).toBe('FORBIDDEN');
      expect(codeOf(await call(who, 'keys:transportRemove', { reason: 'x' }))).toBe('FORBIDDEN');
    }
    // A manager cannot approve it either.
    const byManager = await approvalFor(ws, officer, 'keys.ceremony', manager);
    expect(codeOf(await call(officer, 'keys:transportBegin', { components: 2, approval: byManager }))).toBe(
      'APPROVAL_ROLE',
    );
    // An approval approves one call: replayed, it begins nothing more.
    const approval = await approvalFor(ws, officer, 'keys.ceremony', second);
    value(await call(officer, 'keys:transportBegin', { components: 2, approval }));
    value(await call(officer, 'keys:transportAbort'));
    expect(codeOf(await call(officer, 'keys:transportBegin', { components: 2, approval }))).toBe('APPROVAL_STALE');
    expect(await snapshot()).toEqual(before);

    await beginTransportCeremony(ws, officer, second);
    // A clerk's or a manager's credentials do not make a custodian.
    for (const who of [clerk, manager])
      expect(codeOf(await enter(1, approvalOf(who), TRANSPORT_COMPONENT_HEX[0]))).toBe('CEREMONY_CUSTODIAN_ROLE');
    // One officer typing both sheets (one after the other, and both at once) is refused: split knowledge.
    value(await enter(1, approvalOf(officer), TRANSPORT_COMPONENT_HEX[0]));
    expect(codeOf(await enter(2, approvalOf(officer), TRANSPORT_COMPONENT_HEX[1]))).toBe('CEREMONY_CUSTODIAN_REPEATED');
    expect(codeOf(await enter(1, approvalOf(second), TRANSPORT_COMPONENT_HEX[0]))).toBe('CEREMONY_COMPONENT_TAKEN');
    value(await call(officer, 'keys:transportAbort'));
    await beginTransportCeremony(ws, officer, second);
    const both = await Promise.all([
      enter(1, approvalOf(second), TRANSPORT_COMPONENT_HEX[0]),
      enter(2, approvalOf(second), TRANSPORT_COMPONENT_HEX[1]),
    ]);
    expect(both.map(codeOf).sort()).toEqual(['CEREMONY_CUSTODIAN_REPEATED', 'OK']);
    expect(codeOf(await call(officer, 'keys:transportFinish', { expectedKcv: TRANSPORT_KCV }))).toBe(
      'CEREMONY_INCOMPLETE',
    );
    value(await call(officer, 'keys:transportAbort'));
    expect(await snapshot()).toEqual(before);
    const refused = (await keystoreAudit())
      .filter((r) => r.action === 'keystore.transport_ceremony.component_rejected')
      .map((r) => (JSON.parse(r.details) as { reason: string }).reason);
    expect(refused).toEqual([
      'custodian_role',
      'custodian_role',
      'custodian_repeated',
      'component_taken',
      'custodian_repeated',
    ]);
  });

  it('runs one import at a time: concurrent begins and finishes store one key, once', async () => {
    const third = await addOperator(ws, 'security_officer');
    const approvals = await Promise.all([
      approvalFor(ws, officer, 'keys.ceremony', second),
      approvalFor(ws, officer, 'keys.ceremony', third),
    ]);
    const begins = await Promise.all(
      approvals.map((approval) => call(officer, 'keys:transportBegin', { components: 2, approval })),
    );
    expect(begins.map(codeOf).sort()).toEqual(['CEREMONY_IN_PROGRESS', 'OK']);
    // A second begin while one runs is refused before anyone approves: the running import is kept.
    value(await enter(1, approvalOf(officer), TRANSPORT_COMPONENT_HEX[0]));
    expect(codeOf(await call(officer, 'keys:transportBegin', { components: 3 }))).toBe('CEREMONY_IN_PROGRESS');
    expect((await status()).transportCeremony).toEqual({ components: 2, entered: [1] });
    value(await enter(2, approvalOf(second), TRANSPORT_COMPONENT_HEX[1]));

    const finishes = await Promise.all(
      Array.from({ length: 5 }, () => call(officer, 'keys:transportFinish', { expectedKcv: TRANSPORT_KCV })),
    );
    expect(finishes.filter((r) => r.ok)).toHaveLength(1);
    expect(finishes.filter((r) => !r.ok).map(codeOf)).toEqual(
      Array.from({ length: 4 }, () => expect.stringMatching(/^CEREMONY_(BUSY|NOT_STARTED)$/) as unknown),
    );
    expect((await status()).transportKey).toEqual({ version: 1, kcv: TRANSPORT_KCV });
    expect((await keystoreAudit()).filter((r) => r.action === 'keystore.transport_key.imported')).toHaveLength(1);
  });

  it('replaces the key when the vendor rotates it, and removes it only under dual control', async () => {
    expect(await loadTransportKey(ws, officer, second)).toEqual({ version: 1, kcv: TRANSPORT_KCV });
    const third = await addOperator(ws, 'security_officer');
    // The vendor's new key on three sheets, three different officers; the old key is retired and destroyed.
    const rotated = await loadTransportKey(ws, second, officer, {
      hexes: ROTATED_HEX,
      custodians: [officer, second, third],
      kcv: kcvAes(ROTATED),
    });
    expect(rotated).toEqual({ version: 2, kcv: kcvAes(ROTATED) });
    expect((await status()).transportKey).toEqual({ version: 2, kcv: kcvAes(ROTATED) });
    expect(await cardTransportKcv()).toBe(kcvAes(deriveTransportKey(ROTATED, CARD_ID)));
    const imported = (await keystoreAudit()).filter((r) => r.action === 'keystore.transport_key.imported');
    expect(JSON.parse(imported[1]!.details)).toMatchObject({
      officer: second.username,
      approvedBy: officer.username,
      replacedVersion: 1,
      replacedKcv: TRANSPORT_KCV,
    });

    // Removal: refused without a second officer, by oneself and replayed; then done, and it stays done.
    const before = await snapshot();
    expect(codeOf(await call(officer, 'keys:transportRemove', { reason: 'desk closes' }))).toBe('APPROVAL_REQUIRED');
    const self = await approvalFor(ws, officer, 'keys.ceremony', officer);
    expect(codeOf(await call(officer, 'keys:transportRemove', { reason: 'desk closes', approval: self }))).toBe(
      'APPROVAL_SAME_OPERATOR',
    );
    expect(codeOf(await call(officer, 'keys:transportRemove', { reason: '  ' }))).toBe('VALIDATION');
    expect(await snapshot()).toEqual(before);
    const approval = await approvalFor(ws, officer, 'keys.ceremony', second);
    expect(value(await call(officer, 'keys:transportRemove', { reason: 'desk closes', approval }))).toEqual({
      removed: { version: 2, kcv: kcvAes(ROTATED) },
    });
    expect(codeOf(await call(officer, 'keys:transportRemove', { reason: 'desk closes', approval }))).toBe(
      'TRANSPORT_KEY_NONE',
    );
    expect((await status()).transportKey).toBeNull();
    const removed = (await keystoreAudit()).filter((r) => r.action === 'keystore.transport_key.removed');
    expect(removed.map((r) => JSON.parse(r.details) as unknown)).toEqual([
      expect.objectContaining({ officer: officer.username, approvedBy: second.username, version: 2 }),
    ]);
    // Enrollment now stops, and says where the key is loaded.
    await expect(ws.keystore.current().transportKey(CARD_ID)).rejects.toThrow(/Keys page/);

    value(await call(officer, 'keys:lock'));
    value(await call(officer, 'keys:unlock', { passphrase: desk.unlockSecret }));
    expect((await status()).transportKey).toBeNull();
    expect(await cardTransportKcv()).toBe('KEYSTORE_NO_TRANSPORT_KEY');

    // Loaded again: the used removal approval, replayed, removes nothing; two removals at once remove it once.
    await loadTransportKey(ws, officer, second);
    expect(codeOf(await call(officer, 'keys:transportRemove', { reason: 'replay', approval }))).toBe('APPROVAL_STALE');
    expect((await status()).transportKey).toEqual({ version: 3, kcv: TRANSPORT_KCV });
    const removals = await Promise.all(
      [second, third].map(async (who) =>
        call(officer, 'keys:transportRemove', {
          reason: 'at once',
          approval: await approvalFor(ws, officer, 'keys.ceremony', who),
        }),
      ),
    );
    expect(removals.map(codeOf).sort()).toEqual(['OK', 'TRANSPORT_KEY_NONE']);
    expect((await keystoreAudit()).filter((r) => r.action === 'keystore.transport_key.removed')).toHaveLength(2);
  });

  it('a lock in the middle of an import aborts it and wipes the entered sheets', async () => {
    await beginTransportCeremony(ws, officer, second);
    value(await enter(1, approvalOf(officer), TRANSPORT_COMPONENT_HEX[0]));
    value(await call(officer, 'keys:lock'));
    value(await call(officer, 'keys:unlock', { passphrase: desk.unlockSecret }));
    expect(await status()).toMatchObject({ transportKey: null, transportCeremony: null });
    expect(codeOf(await enter(2, approvalOf(second), TRANSPORT_COMPONENT_HEX[1]))).toBe('CEREMONY_NOT_STARTED');
    expect((await keystoreAudit()).filter((r) => r.action === 'keystore.transport_ceremony.aborted')).toHaveLength(1);
  });
});

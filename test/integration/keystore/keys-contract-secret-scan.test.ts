import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kcvAes } from '../../../src/core/crypto/kcv';
import { kdfCounterCmac } from '../../../src/core/crypto/sp800-108';
import { cardKeyKdfInput } from '../../../src/core/keystore/card-key-derivation';
import type { Result } from '../../../src/shared/contract';
import { databaseContents } from '../../support/desk-contents';
import { freshWorkstation } from '../../support/fresh-workstation';
import { COMPONENT_HEX, componentKcv, createKeystore, masterKeyOf } from '../../support/keys';
import { addOperator, approvalFor, approvalOf, setupOfficer, value } from '../../support/operators';
import { readText } from './keystore.fixture';
import { encodings } from '../../support/secret-encodings';

// The domain's secret scan (secret-scan.test.ts) seen from outside: after a ceremony over the
// contract, many card keys, a rotation, retirements and the vendor transport key loaded and
// removed, nothing the contract answered, nor the workstation's database (its SQLite file, or every
// row on PostgreSQL; its audit trail included) and log, holds a component, the master key, the transport key or any card key.
// MK never leaves the keystore; the test knows it as the XOR of the components it typed.

const MK = masterKeyOf(COMPONENT_HEX);
/** The card vendor's transport key sheets (random here, so nothing else on the desk can match them). */
const TRANSPORT_SHEETS = [randomBytes(16).toString('hex'), randomBytes(16).toString('hex')] as const;
const VTMK = masterKeyOf(TRANSPORT_SHEETS);
const K = (n: string, sn: number) => kdfCounterCmac(MK, cardKeyKdfInput(n, sn));

describe('no key material crosses the contract or lands in the database or log', () => {
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  const answers: Result<unknown>[] = [];
  const secrets: { name: string; value: Buffer }[] = [];

  beforeAll(async () => {
    t = await freshWorkstation();
    const officer = await setupOfficer(t.ws);
    const second = await addOperator(t.ws, 'security_officer');
    const custodians = [officer, second, await addOperator(t.ws, 'security_officer')];
    const call = async (channel: string, input: unknown = {}) => {
      const r = await t.ws.router.dispatch(officer.client, channel, input);
      answers.push(r);
      return r;
    };
    await createKeystore(t.ws, officer);
    value(
      await call('keys:ceremonyBegin', {
        components: 3,
        approval: await approvalFor(t.ws, officer, 'keys.ceremony', second),
      }),
    );
    for (const [i, hex] of COMPONENT_HEX.entries()) {
      value(
        await call('keys:ceremonyEnterComponent', {
          index: i + 1,
          component: hex,
          custodian: approvalOf(custodians[i]!),
          expectedKcv: componentKcv(hex),
        }),
      );
    }
    await call('keys:ceremonyProgress');
    // The expected KCV proves the test's MK is the one inside, so the scan looks for the right bytes.
    value(await call('keys:ceremonyFinish', { expectedKcv: kcvAes(MK) }));
    value(await call('keys:createBankCa', { commonName: 'Scan CA' }));
    value(await call('keys:createIssuerKey', { commonName: 'Scan Issuer' }));

    const ks = t.ws.keystore.current();
    for (let i = 0; i < 50; i++) {
      const n = `N-${7000 + i}`;
      await ks.cardKey(n);
      secrets.push({ name: `K(${n},1)`, value: K(n, 1) });
      expect(value(await call('keys:cardKeyState', { n }))).toMatchObject({ kcv: kcvAes(K(n, 1)) });
    }
    const rotation = await ks.prepareCardKeyRotation('N-7001', { operator: 'sam', role: 'support' });
    await ks.confirmCardKeyRotation('N-7001', rotation.next.sn);
    secrets.push({ name: "K'(N-7001,2)", value: K('N-7001', 2) });
    for (const n of ['N-7002', 'N-7003']) {
      value(await call('keys:retireCardKey', { n, reason: 'reported cloned' }));
      secrets.push({ name: `K(${n},2)`, value: K(n, 2) });
    }
    await call('keys:cardKeyState', { n: 'N-7001' });
    // Refused components must not quote what was typed either.
    await call('keys:ceremonyBegin', {
      components: 2,
      approval: await approvalFor(t.ws, officer, 'keys.ceremony', second),
    });
    await call('keys:ceremonyEnterComponent', {
      index: 1,
      component: COMPONENT_HEX[1],
      custodian: approvalOf(officer),
      expectedKcv: '000000',
    });
    await call('keys:ceremonyEnterComponent', {
      index: 2,
      component: COMPONENT_HEX[2].slice(1),
      custodian: approvalOf(second),
    });
    await call('keys:ceremonyAbort');

    // The vendor transport key from two sheets, a refused sheet, a wrong final KCV, then a removal.
    value(
      await call('keys:transportBegin', {
        components: 2,
        approval: await approvalFor(t.ws, officer, 'keys.ceremony', second),
      }),
    );
    await call('keys:transportEnterComponent', {
      index: 1,
      component: TRANSPORT_SHEETS[1],
      custodian: approvalOf(officer),
      expectedKcv: '000000',
    });
    await call('keys:transportEnterComponent', {
      index: 2,
      component: TRANSPORT_SHEETS[0].slice(2),
      custodian: approvalOf(second),
    });
    for (const [i, hex] of TRANSPORT_SHEETS.entries()) {
      value(
        await call('keys:transportEnterComponent', {
          index: i + 1,
          component: hex,
          custodian: approvalOf(custodians[i]!),
          expectedKcv: componentKcv(hex),
        }),
      );
    }
    await call('keys:transportFinish', { expectedKcv: '123456' });
    value(await call('keys:transportFinish', { expectedKcv: kcvAes(VTMK) }));
    await call('keys:status');
    value(
      await call('keys:transportRemove', {
        reason: 'scan done',
        approval: await approvalFor(t.ws, officer, 'keys.ceremony', second),
      }),
    );
    await call('keys:list');
    await call('keys:status');
    await call('keys:issuerCertificate');
    await call('keys:lock');

    secrets.push(
      { name: 'MK', value: MK },
      ...COMPONENT_HEX.map((h, i) => ({ name: `component ${i + 1}`, value: Buffer.from(h, 'hex') })),
      { name: 'VTMK', value: VTMK },
      ...TRANSPORT_SHEETS.map((h, i) => ({ name: `transport component ${i + 1}`, value: Buffer.from(h, 'hex') })),
    );
  });
  afterAll(() => t?.dispose());

  it('knows what it is looking for and saw the answers', () => {
    expect(secrets.length).toBe(50 + 1 + 2 + 1 + 3 + 1 + 2);
    expect(answers.length).toBeGreaterThan(60);
    expect(answers.filter((a) => !a.ok).map((a) => (a.ok ? '' : a.error.code))).toEqual([
      'CEREMONY_KCV_MISMATCH',
      'VALIDATION',
      'CEREMONY_KCV_MISMATCH',
      'VALIDATION',
      'CEREMONY_KCV_MISMATCH',
    ]);
  });

  it.each([
    ['every contract answer', () => JSON.stringify(answers)],
    [
      'database',
      async () => {
        await t.ws.keystore.settled(); // its audit entries, committed moments later on PostgreSQL
        return (await databaseContents(t.ws, t.dataDir)).map(([, text]) => text).join('\n');
      },
    ],
    ['log file', () => readText(join(t.dataDir, 'logs', 'workstation.log'))],
  ])('%s holds no key', async (_where, read) => {
    const haystack = await read();
    expect(haystack.length).toBeGreaterThan(1000);
    const found = secrets.filter((s) => encodings(s.value).some((e) => haystack.includes(e))).map((s) => s.name);
    expect(found).toEqual([]);
  });

  it('the scan would notice a leak (control)', () => {
    const leaked =
      JSON.stringify(answers) + MK.toString('base64') + COMPONENT_HEX[1].toUpperCase() + TRANSPORT_SHEETS[0];
    expect(secrets.filter((s) => encodings(s.value).some((e) => leaked.includes(e))).map((s) => s.name)).toEqual([
      'MK',
      'component 2',
      'transport component 1',
    ]);
  });
});

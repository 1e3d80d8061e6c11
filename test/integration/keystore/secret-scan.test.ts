import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEnvelope } from '../../../src/core/card/protocol/list-envelope';
import { kcvAes, xorComponents } from '../../../src/core/crypto/kcv';
import { kdfCounterCmac } from '../../../src/core/crypto/sp800-108';
import { cardKeyKdfInput } from '../../../src/core/keystore/card-key-derivation';
import { PassphraseKekProvider } from '../../../src/core/keystore/kek-provider';
import { decodeKeystoreFile } from '../../../src/core/keystore/keystore-file.codec';
import {
  BACKENDS,
  PASSPHRASE,
  TEST_COST,
  createKeystoreFixture,
  custodian,
  readText,
  type KeystoreFixture,
} from './keystore.fixture';
import { encodings } from '../../support/secret-encodings';

// After a ceremony, many derived card keys, a rotation, a retirement and the issuer key,
// no key (MK, components, any K or K', the private keys of S, the CA and the audit key) may appear in the SQLite file, the
// log, the audit trail or anything the keystore returns — as raw bytes, hex (both cases) or base64.

const COMPONENTS = ['11'.repeat(16) + '2f'.repeat(16), '5c'.repeat(8) + 'a3'.repeat(24)].map((h) =>
  Buffer.from(h, 'hex'),
);
const MK = xorComponents(COMPONENTS);
const K = (n: string, sn: number) => kdfCounterCmac(MK, cardKeyKdfInput(n, sn));

describe.each(BACKENDS)('no key material escapes (%s backend)', (backend) => {
  let fx: KeystoreFixture;
  const outputs: unknown[] = [];
  const consoleLines: string[] = [];
  const secrets: { name: string; value: Buffer }[] = [];

  beforeAll(async () => {
    fx = createKeystoreFixture(backend);
    for (const m of ['log', 'info', 'warn', 'error'] as const) {
      vi.spyOn(console, m).mockImplementation(
        (...args: unknown[]) => void consoleLines.push(args.map(String).join(' ')),
      );
    }
    const ks = await fx.open();
    const keep = <T>(v: T): T => (outputs.push(v), v);

    keep(ks.ceremony.begin({ components: 2, officer: 'sofia' }));
    COMPONENTS.forEach((c, i) =>
      keep(
        ks.ceremony.enterComponent(i + 1, c.toString('hex'), { custodian: custodian(i + 1), expectedKcv: kcvAes(c) }),
      ),
    );
    keep(await ks.ceremony.finish({ expectedKcv: kcvAes(MK) }));
    keep(await ks.createBankCa({ commonName: 'Scan CA', officer: 'sofia' }));
    keep(await ks.createIssuerKey({ commonName: 'Scan Issuer', officer: 'sofia' }));
    for (let i = 0; i < 60; i++) {
      const n = `N-${5000 + i}`;
      const h = keep(await ks.cardKey(n));
      const hc = Buffer.alloc(16, i);
      const session = keep(await ks.openSecureSession(h, hc, hc));
      keep(await ks.wrapSecureCommand(session, 0, { cla: 0x84, ins: 0xca, p1: 0, p2: 0 }, [Buffer.from(n)]));
      keep(
        await ks.issueCodeList(
          { mode: 'card-key', card: h },
          {
            cardId: Buffer.alloc(8, i),
            listSeq: 1,
            listId: Buffer.alloc(16, i),
            length: 10,
            digits: 8,
            expiry: 1_900_000_000,
            threshold: 2,
          },
        ),
      );
      secrets.push({ name: `K(${n},1)`, value: K(n, 1) });
    }
    const rot = keep(await ks.prepareCardKeyRotation('N-5001', { operator: 'sam', role: 'support' }));
    const current = await ks.cardKey('N-5001');
    const rotSession = await ks.openSecureSession(current, Buffer.alloc(16, 1), Buffer.alloc(16, 2));
    const rotate = keep(
      await ks.wrapSecureCommand(rotSession, 1, { cla: 0x84, ins: 0xd2, p1: 2, p2: 0 }, [
        { keyOf: rot.next },
        { kcvOf: rot.next },
      ]),
    );
    keep(rotate.toString('hex'));
    keep(rotate.toString('base64'));
    keep(await ks.confirmCardKeyRotation('N-5001', 2));
    keep(await ks.retireCardKey('N-5002', { reason: 'cloned', operator: 'sam' }));
    secrets.push({ name: "K'(N-5001,2)", value: K('N-5001', 2) }, { name: 'K(N-5002,2)', value: K('N-5002', 2) });
    const card = keep(await ks.cardKey('N-5003'));
    keep(await ks.verifyChallengeResponse(card, Buffer.alloc(8, 1), Buffer.alloc(32, 9), Buffer.alloc(16)));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sealed = keep(
      await ks.issueCodeList(
        { mode: 'public-key', cardPublicKeySpkiDer: rsa.publicKey.export({ format: 'der', type: 'spki' }) },
        {
          cardId: Buffer.alloc(8, 4),
          listSeq: 2,
          listId: Buffer.alloc(16, 4),
          length: 10,
          digits: 8,
          expiry: 1_900_000_000,
          threshold: 2,
        },
      ),
    );
    const wrapped = parseEnvelope(sealed.envelope).wrapped ?? Buffer.alloc(0);
    // P is the one key this test (as the RSA holder) may open: the scan shows it is found when it is there.
    const p = privateDecrypt(
      { key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      wrapped,
    );
    expect(p).toHaveLength(32);
    const mailer = await ks.formatCustomerKeyForMailer('N-5004', {
      operator: 'mia',
      role: 'manager',
      reason: 'initial',
    });
    keep({ ...mailer, formatted: '(the one sanctioned exit, not scanned)' });
    keep(await ks.sign(Buffer.from('x')));
    keep(await ks.signAudit(Buffer.from('otac-audit-checkpoint/1\n1\nx')));
    const auditKey = keep(await ks.auditPublicKey());
    keep(await ks.status());
    keep(await ks.listKeys());
    keep(await ks.cardKeyState('N-5001'));
    keep(await ks.caPublicKey());
    keep(await ks.caCertificatePem());
    keep(await ks.issuerCertificatePem());
    for (const p of [
      ks.cardKey('N-5002', 1),
      ks.restoreFrom('/nonexistent', ['whatever pass', 'another pass'], { officer: 'x' }),
    ]) {
      keep(await p.catch((e: Error) => e.message));
    }
    await ks.close();

    secrets.push({ name: 'MK', value: MK }, ...COMPONENTS.map((c, i) => ({ name: `component ${i + 1}`, value: c })));
    if (backend === 'software') {
      // The EC private keys (bank CA, S, the audit key) are only reachable by decrypting the file with the passphrase.
      const decoded = await decodeKeystoreFile(
        readFileSync(fx.keystoreFile),
        new PassphraseKekProvider(PASSPHRASE, TEST_COST),
      );
      const payload = JSON.parse(decoded.payload.toString('utf8')) as { keys: { type: string; value: string }[] };
      const ecKeys = payload.keys.filter((x) => x.type === 'ec');
      for (const k of ecKeys) {
        const der = Buffer.from(k.value, 'base64');
        const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
        const d = priv.export({ format: 'jwk' }).d ?? '';
        const isAudit = createPublicKey(priv).export({ format: 'der', type: 'spki' }).equals(auditKey.spkiDer);
        const name = isAudit ? 'audit key' : 'EC key';
        secrets.push(
          { name: `${name} private (pkcs8)`, value: der },
          { name: `${name} private scalar`, value: Buffer.from(d, 'base64url') },
        );
      }
      // The audit key is among those scanned for.
      expect(ecKeys).toHaveLength(3);
      expect(secrets.filter((s) => s.name.startsWith('audit key'))).toHaveLength(2);
    }
  });
  afterAll(() => {
    vi.restoreAllMocks();
    fx.dispose();
  });

  it('knows what it is looking for', () => {
    expect(secrets.length).toBeGreaterThan(backend === 'software' ? 68 : 64);
    expect(secrets.every((s) => s.value.length >= 16)).toBe(true);
  });

  it.each([
    ['SQLite file', () => readText(fx.dbFile) + readText(`${fx.dbFile}-wal`)],
    ['log file', () => readText(fx.logFile)],
    ['audit trail', () => JSON.stringify(fx.audit)],
    ['console', () => consoleLines.join('\n')],
    [
      'public outputs',
      () => JSON.stringify(outputs, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v)),
    ],
    [
      'public outputs (hex/base64 of buffers)',
      () =>
        JSON.stringify(outputs, (_k, v: unknown) =>
          Buffer.isBuffer(v) ? v.toString('hex') + v.toString('base64') : v,
        ),
    ],
    ['keystore file (encrypted at rest)', () => readText(fx.keystoreFile)],
  ])('%s holds no key', (_where, read) => {
    const haystack = read();
    // Everything but the console (silent, as it should be) and the PKCS#11 run's absent file has content to scan.
    const mayBeEmpty = _where === 'console' || (_where.startsWith('keystore file') && backend === 'pkcs11');
    if (!mayBeEmpty) expect(haystack.length).toBeGreaterThan(0);
    const found = secrets.filter((s) => encodings(s.value).some((e) => haystack.includes(e))).map((s) => s.name);
    expect(found).toEqual([]);
  });

  it('the scan would notice a leak (control)', () => {
    const leaked = JSON.stringify({ oops: K('N-5010', 1).toString('base64') });
    expect(secrets.filter((s) => encodings(s.value).some((e) => leaked.includes(e))).map((s) => s.name)).toEqual([
      'K(N-5010,1)',
    ]);
    expect(existsSync(fx.dbFile)).toBe(true);
  });
});

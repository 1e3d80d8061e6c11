import { execFileSync } from 'node:child_process';
import {
  X509Certificate,
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  verify,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deriveReceiptKey,
  ENVELOPE_PUBLIC_KEY,
  envelopeKeysFromSecret,
  openEnvelope,
  parseEnvelope,
} from '../../../src/core/card/protocol/list-envelope';
import { INS } from '../../../src/core/card/protocol/profile.constants';
import {
  cardCryptogram,
  deriveSessionKeys,
  smUnwrapCommand,
  smWrapResponse,
} from '../../../src/core/card/protocol/sm-crypto';
import { decodeListBody, decodeSignedList } from '../../../src/core/card/protocol/list-format';
import { aesCmac } from '../../../src/core/crypto/aes-cmac';
import { kcvAes, kcvFromBlock, xorComponents } from '../../../src/core/crypto/kcv';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { kdfCounterCmac } from '../../../src/core/crypto/sp800-108';
import { cardKeyKdfInput } from '../../../src/core/keystore/card-key-derivation';
import type { KeystoreConfig } from '../../../src/core/keystore/create-keystore';
import type { KeystoreBackend } from '../../../src/core/keystore/keystore-backend';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import { Pkcs11Backend } from '../../../src/core/keystore/pkcs11.backend';
import { SoftwareBackend } from '../../../src/core/keystore/software.backend';
import { BACKENDS, createKeystoreFixture, custodian, type KeystoreFixture } from './keystore.fixture';

const COMPONENTS = [
  '0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0',
  'a5a5a5a55a5a5a5a0123456789abcdeffedcba9876543210c3c3c3c33c3c3c3c',
  '7f6e5d4c3b2a19080706050403020100deadbeefcafebabe0badf00d12345678',
];
const MK = xorComponents(COMPONENTS.map((c) => Buffer.from(c, 'hex')));
const cardK = (n: string, sn: number, mk: Buffer = MK) => kdfCounterCmac(mk, cardKeyKdfInput(n, sn));
/** The backend alone, without the service: to write a key list as an older version left it. */
const rawBackend = (c: KeystoreConfig): KeystoreBackend =>
  c.backend === 'software' ? new SoftwareBackend(c) : new Pkcs11Backend(c);
const expectCode = async (p: Promise<unknown>, code: string) =>
  expect(p).rejects.toMatchObject({ name: 'AppError', code });

describe.each(BACKENDS)('keystore service (%s backend)', (backend) => {
  let fx: KeystoreFixture;
  let ks: KeystoreService;
  let auditPem = '';
  let auditKcv = '';

  beforeAll(async () => {
    fx = createKeystoreFixture(backend);
    ks = await fx.open();
  });
  afterAll(async () => {
    await ks.close();
    fx.dispose();
  });

  it('makes the audit key with the keystore, audited, and signs checkpoints with it (ECDSA P-256, DER)', async () => {
    const audit = (await ks.listKeys()).filter((k) => k.purpose === 'audit');
    expect(audit).toEqual([
      expect.objectContaining({ version: 1, state: 'active', algorithm: 'EC-P256', origin: 'generated' }),
    ]);
    expect(fx.audit.filter((a) => a.action === 'keystore.audit_key.created')).toEqual([
      { action: 'keystore.audit_key.created', details: { kcv: audit[0]?.kcv, version: 1 } },
    ]);
    const pub = await ks.auditPublicKey();
    [auditPem, auditKcv] = [pub.pem, pub.kcv];
    expect(pub.kcv).toBe(audit[0]?.kcv);
    expect(pub.kcv).toBe(kcvFromBlock(createHash('sha256').update(pub.spkiDer).digest()));
    expect(pub.pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const data = Buffer.from('otac-audit-checkpoint/1\n12\nabc');
    const sig = await ks.signAudit(data);
    expect(verify('sha256', data, createPublicKey(pub.pem), sig)).toBe(true);
    expect(verify('sha256', Buffer.from('otac-audit-checkpoint/1\n13\nabc'), createPublicKey(pub.pem), sig)).toBe(
      false,
    );
  });

  it('refuses card keys before there is a master key', async () => {
    await expectCode(ks.cardKey('N-BEFORE'), 'KEYSTORE_NO_MASTER_KEY');
  });

  it('rejects a component whose KCV does not match the custodian sheet, keeping nothing', async () => {
    ks.ceremony.begin({ components: 3, officer: 'sofia' });
    const sheet = kcvAes(Buffer.from(COMPONENTS[0] ?? '', 'hex'));
    const wrong = sheet === '000000' ? '111111' : '000000';
    expect(() =>
      ks.ceremony.enterComponent(1, COMPONENTS[0] ?? '', { custodian: custodian(1), expectedKcv: wrong }),
    ).toThrow(expect.objectContaining({ code: 'CEREMONY_KCV_MISMATCH' }));
    expect(ks.ceremony.progress()?.entered).toEqual([]);
    expect(fx.audit.some((a) => a.action === 'keystore.ceremony.component_rejected')).toBe(true);
  });

  it('forms the master key from three components, each confirmed by its KCV', async () => {
    const kcvs = COMPONENTS.map((hex, i) =>
      ks.ceremony.enterComponent(i + 1, hex, {
        custodian: custodian(i + 1),
        expectedKcv: kcvAes(Buffer.from(hex, 'hex')),
      }),
    );
    expect(kcvs.map((k) => k.kcv)).toEqual(COMPONENTS.map((h) => kcvAes(Buffer.from(h, 'hex'))));
    await expectCode(ks.ceremony.finish({ expectedKcv: '000000' }), 'CEREMONY_KCV_MISMATCH');
    expect((await ks.listKeys()).filter((k) => k.purpose === 'master')).toEqual([]);
    const info = await ks.ceremony.finish({ expectedKcv: kcvAes(MK) });
    expect(info).toMatchObject({
      purpose: 'master',
      version: 1,
      state: 'active',
      kcv: kcvAes(MK),
      algorithm: 'AES-256',
      origin: 'components',
    });
    expect((await ks.status()).masterKey).toEqual({ version: 1, kcv: kcvAes(MK) });
    expect(ks.ceremony.progress()).toBeNull();
  });

  it('derives K = KDF(MK, N, SN) exactly as documented, one key per card', async () => {
    const a = await ks.cardKey('N-1001');
    const b = await ks.cardKey('N-1002');
    expect(a).toEqual({ kind: 'card', n: 'N-1001', sn: 1, mkVersion: 1, kcv: kcvAes(cardK('N-1001', 1)) });
    expect(b.kcv).toBe(kcvAes(cardK('N-1002', 1)));
    expect(a.kcv).not.toBe(b.kcv);
  });

  it("runs the profile's secure messaging from a card key inside the keystore (checked against the card side over raw bytes)", async () => {
    const k = await ks.cardKey('N-1001');
    const host = Buffer.alloc(16, 0x11);
    const card = Buffer.alloc(16, 0x22);
    const raw = deriveSessionKeys(cardK('N-1001', 1), host, card);
    const session = await ks.openSecureSession(k, host, card);
    expect(session).toMatchObject({ kind: 'sm-session', base: 'card' });
    expect(await ks.verifyCardCryptogram(session, cardCryptogram(raw, host, card))).toBe(true);
    expect(await ks.verifyCardCryptogram(session, Buffer.alloc(16))).toBe(false);
    const header = { cla: 0x84, ins: INS.GET_STATE, p1: 0, p2: 0 };
    const data = Buffer.from('clear command data');
    const wrapped = await ks.wrapSecureCommand(session, 3, header, [data]);
    expect(smUnwrapCommand(raw, 3, header, wrapped)).toEqual(data);
    expect(smUnwrapCommand(raw, 4, header, wrapped)).toBeUndefined();
    const response = smWrapResponse(raw, 3, Buffer.from('card answer'), 0x9000);
    expect(await ks.unwrapSecureResponse(session, 3, response, 0x9000)).toEqual(Buffer.from('card answer'));
    expect(await ks.unwrapSecureResponse(session, 3, response, 0x6982)).toBeUndefined();
    await expectCode(ks.openSecureSession(k, Buffer.alloc(8), card), 'CRYPTO_BAD_INPUT');
    await ks.release(session);
    await expectCode(ks.wrapSecureCommand(session, 4, header, [data]), 'KEY_NOT_FOUND');
  });

  it('formats K for the mailer through one audited function', async () => {
    const before = fx.audit.length;
    await expectCode(
      ks.formatCustomerKeyForMailer('N-1002', { operator: 'carl', role: 'clerk', reason: 'initial mailer' }),
      'FORBIDDEN',
    );
    const m = await ks.formatCustomerKeyForMailer('N-1002', {
      operator: 'mia',
      role: 'manager',
      reason: 'initial mailer',
    });
    const parsed = parseMailerKey(m.formatted);
    expect(parsed.ok && parsed.key.equals(cardK('N-1002', 1))).toBe(true);
    expect(m).toMatchObject({ n: 'N-1002', sn: 1, kcv: kcvAes(cardK('N-1002', 1)) });
    const entry = fx.audit.slice(before).find((a) => a.action === 'keystore.mailer.customer_key_formatted');
    expect(entry?.details).toEqual({
      n: 'N-1002',
      sn: 1,
      series: 'current',
      kcv: m.kcv,
      operator: 'mia',
      role: 'manager',
      reason: 'initial mailer',
    });
  });

  it("rotates a card key: K' for the next SN travels in ROTATE KEY under a session of K, then K is retired", async () => {
    const k = await ks.cardKey('N-2001');
    await expectCode(ks.prepareCardKeyRotation('N-2001', { operator: 'carl', role: 'clerk' }), 'FORBIDDEN');
    expect((await ks.cardKeyState('N-2001')).pendingSn).toBeNull(); // the refusal changed nothing
    const rot = await ks.prepareCardKeyRotation('N-2001', { operator: 'sam', role: 'support' });
    expect(rot.next).toMatchObject({ n: 'N-2001', sn: 2, kcv: kcvAes(cardK('N-2001', 2)) });
    const again = await ks.prepareCardKeyRotation('N-2001', { operator: 'sam', role: 'support' });
    expect(again.next).toEqual(rot.next); // a retried push sends the same K'
    const host = Buffer.alloc(16, 1);
    const chal = Buffer.alloc(16, 2);
    const session = await ks.openSecureSession(k, host, chal);
    const header = { cla: 0x84, ins: INS.ROTATE_KEY, p1: 2, p2: 0 };
    // The KCV is the keystore's own, whatever the caller's copy of the handle says.
    const e = await ks.wrapSecureCommand(session, 1, header, [
      { keyOf: rot.next },
      { kcvOf: { ...rot.next, kcv: '000000' } },
    ]);
    // What the card does with K: K' || KCV(K').
    const plain = smUnwrapCommand(deriveSessionKeys(cardK('N-2001', 1), host, chal), 1, header, e);
    expect(plain).toEqual(Buffer.concat([cardK('N-2001', 2), Buffer.from(rot.next.kcv, 'hex')]));
    expect((await ks.cardKeyState('N-2001')).pendingSn).toBe(2);
    await expectCode(ks.confirmCardKeyRotation('N-2001', 3), 'CARD_KEY_ROTATION_NOT_PENDING');
    const state = await ks.confirmCardKeyRotation('N-2001', 2);
    expect(state).toMatchObject({ sn: 2, pendingSn: null, retiredSns: 1, kcv: rot.next.kcv });
    await expectCode(ks.openSecureSession(k, host, chal), 'CARD_KEY_RETIRED');
    await expectCode(ks.cardKey('N-2001', 1), 'CARD_KEY_RETIRED');
  });

  it('retires a compromised card key by moving only that card to the next SN', async () => {
    const other = await ks.cardKey('N-1001');
    const victim = await ks.cardKey('N-3001');
    const s = await ks.retireCardKey('N-3001', { reason: 'cloned', operator: 'sam' });
    expect(s).toMatchObject({ n: 'N-3001', sn: 2, kcv: kcvAes(cardK('N-3001', 2)) });
    await expectCode(ks.openSecureSession(victim, Buffer.alloc(16), Buffer.alloc(16)), 'CARD_KEY_RETIRED');
    await expectCode(ks.cardKey('N-3001', 1), 'CARD_KEY_RETIRED');
    await expectCode(ks.cardKey('N-3001', 5), 'CARD_KEY_NOT_ISSUED');
    expect(await ks.cardKey('N-1001')).toEqual(other);
  });

  it('creates the bank CA and issuer key S, with an X.509 certificate that verifies', async () => {
    await expectCode(ks.createIssuerKey({ commonName: 'OTAC Issuer', officer: 'sofia' }), 'KEYSTORE_NO_BANK_CA');
    await ks.createBankCa({ commonName: 'Test Bank CA', officer: 'sofia' });
    const s = await ks.createIssuerKey({ commonName: 'OTAC Issuer', officer: 'sofia' });
    expect(s).toMatchObject({ purpose: 'issuer-signing', algorithm: 'EC-P256', state: 'active', version: 1 });
    const ca = await ks.caPublicKey();
    expect(ca.uncompressedPoint.length).toBe(65);
    expect(ca.uncompressedPoint[0]).toBe(0x04);
    const cert = new X509Certificate(await ks.issuerCertificatePem());
    expect(cert.verify(createPublicKey(ca.pem))).toBe(true);
    expect(cert.subject).toContain('CN=OTAC Issuer');
    expect(cert.issuer).toContain('CN=Test Bank CA');
    expect(cert.ca).toBe(false);
    const caFile = join(fx.dir, 'ca.pem');
    const sFile = join(fx.dir, 's.pem');
    writeFileSync(caFile, await ks.caCertificatePem());
    writeFileSync(sFile, await ks.issuerCertificatePem());
    expect(execFileSync('openssl', ['verify', '-CAfile', caFile, sFile]).toString()).toContain(': OK');
  });

  it('makes a public-key-mode list: a fresh P under the card RSA key with OAEP, the envelope and receipt under P', async () => {
    const card = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = card.publicKey.export({ format: 'der', type: 'spki' });
    const request = {
      cardId: Buffer.alloc(8, 3),
      listSeq: 7,
      listId: Buffer.alloc(16, 7),
      length: 4,
      digits: 10,
      expiry: 1_900_000_000,
      threshold: 1,
    };
    const { envelope, receiptKey } = await ks.issueCodeList(
      { mode: 'public-key', cardPublicKeySpkiDer: spki },
      request,
    );
    const parsed = parseEnvelope(envelope);
    expect(parsed.header).toMatchObject({ type: ENVELOPE_PUBLIC_KEY, listSeq: 7 });
    const p = privateDecrypt(
      { key: card.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      parsed.wrapped ?? Buffer.alloc(0),
    );
    const keys = envelopeKeysFromSecret(p);
    const body = decodeListBody(decodeSignedList(openEnvelope(parsed, keys) ?? Buffer.alloc(0)).body);
    expect(body.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(body.entries.every((e) => /^[0-9]{10}$/.test(e.code))).toBe(true);
    const message = Buffer.from('receipt message');
    expect(
      await ks.verifyReceipt(receiptKey, message, aesCmac(deriveReceiptKey(keys.mac, request.cardId, 7), message)),
    ).toBe(true);
    expect(await ks.verifyReceipt(receiptKey, message, Buffer.alloc(16))).toBe(false);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    await expectCode(ks.issueCodeList({ mode: 'public-key', cardPublicKeySpkiDer: ec }, request), 'KEY_BAD_PUBLIC_KEY');
  });

  it('signs with S (ECDSA P-256) and verifies, in DER and r||s', async () => {
    const data = Buffer.from('list 42 for N-1001');
    const der = await ks.sign(data);
    const raw = await ks.sign(data, 'p1363');
    expect(raw.length).toBe(64);
    const certKey = new X509Certificate(await ks.issuerCertificatePem()).publicKey;
    expect(verify('sha256', data, certKey, der)).toBe(true);
    expect(await ks.verify(data, der)).toBe(true);
    expect(await ks.verify(data, raw, 'p1363')).toBe(true);
    expect(await ks.verify(Buffer.from('list 43 for N-1001'), der)).toBe(false);
  });

  it('rotates the master key: new cards and rotations use MK v2, existing cards keep theirs', async () => {
    const oldK = await ks.cardKey('N-1001');
    const mk2 = await ks.generateMasterKey({ officer: 'sofia' });
    expect(mk2).toMatchObject({ version: 2, state: 'active', origin: 'generated' });
    const keys = await ks.listKeys();
    expect(keys.find((k) => k.purpose === 'master' && k.version === 1)?.state).toBe('superseded');
    expect(await ks.cardKey('N-1001')).toEqual(oldK);
    expect((await ks.cardKey('N-4001')).mkVersion).toBe(2);
    const rot = await ks.prepareCardKeyRotation('N-1001', { operator: 'sam', role: 'support' });
    expect(rot.next.mkVersion).toBe(2);
    expect(rot.next.kcv).not.toBe(kcvAes(cardK('N-1001', 2))); // derived from MK v2, not v1
  });

  it('keeps every key across close and re-open', async () => {
    const before = await ks.listKeys();
    const card = await ks.cardKey('N-1002');
    const pem = await ks.issuerCertificatePem();
    await ks.close();
    ks = await fx.open({ createIfMissing: false });
    expect(await ks.listKeys()).toEqual(before);
    expect(await ks.cardKey('N-1002')).toEqual(card);
    expect(await ks.issuerCertificatePem()).toBe(pem);
    const sig = await ks.sign(Buffer.from('after restart'));
    expect(verify('sha256', Buffer.from('after restart'), new X509Certificate(pem).publicKey, sig)).toBe(true);
    // The same audit key after re-open: not a second one, and S is a different key.
    expect(fx.audit.filter((a) => a.action === 'keystore.audit_key.created')).toHaveLength(1);
    const auditSig = await ks.signAudit(Buffer.from('after restart'));
    expect(verify('sha256', Buffer.from('after restart'), createPublicKey(auditPem), auditSig)).toBe(true);
    expect(verify('sha256', Buffer.from('after restart'), new X509Certificate(pem).publicKey, auditSig)).toBe(false);
  });

  it('gives a keystore made before audit keys existed one at its next unlock', async () => {
    await ks.close();
    const raw = rawBackend(fx.config({ createIfMissing: false }));
    const metadata = await raw.open();
    const legacy = JSON.stringify({
      format: 1,
      keys: (JSON.parse(metadata ?? '') as { keys: { purpose: string }[] }).keys.filter((k) => k.purpose !== 'audit'),
    });
    await raw.commit(legacy);
    await raw.close();
    const before = fx.audit.length;
    ks = await fx.open({ createIfMissing: false });
    const audit = (await ks.listKeys()).filter((k) => k.purpose === 'audit');
    expect(audit).toEqual([expect.objectContaining({ version: 1, state: 'active' })]);
    expect(audit[0]?.kcv).not.toBe(auditKcv); // a new key: the old one's record was not in the key list
    expect(fx.audit.slice(before).map((a) => a.action)).toEqual(['keystore.opened', 'keystore.audit_key.created']);
  });

  it('refuses a wrong passphrase or PIN with a clear error', async () => {
    const err = backend === 'software' ? 'KEYSTORE_WRONG_PASSPHRASE' : 'HSM_LOGIN_FAILED';
    await expectCode(fx.open({ passphrase: 'not the passphrase', pin: '000000' }), err);
    expect(fx.audit.at(-1)).toMatchObject({ action: 'keystore.open_failed', details: { code: err } });
  });

  it('backs up for two custodians and restores only with both passphrases (software), or points to the HSM tools (pkcs11)', async () => {
    mkdirSync(join(fx.dir, 'backups'), { recursive: true });
    const file = join(fx.dir, 'backups', 'backup.otacbk');
    const custodians = [
      { operator: 'sofia', passphrase: 'sofia backup passphrase' },
      { operator: 'omar', passphrase: 'omar backup passphrase' },
    ] as const;
    const both = [custodians[0].passphrase, custodians[1].passphrase] as const;
    if (backend === 'pkcs11') {
      await expectCode(ks.backupTo(file, custodians, { officer: 'sofia' }), 'KEYSTORE_BACKUP_UNSUPPORTED');
      return;
    }
    const before = await ks.listKeys();
    await expectCode(
      ks.backupTo(file, [custodians[0], { operator: 'SOFIA', passphrase: 'another passphrase' }], { officer: 'sofia' }),
      'KEYSTORE_BACKUP_ONE_CUSTODIAN',
    );
    await expectCode(
      ks.backupTo(file, [custodians[0], { operator: 'omar', passphrase: custodians[0].passphrase }], {
        officer: 'sofia',
      }),
      'KEYSTORE_BACKUP_SAME_PASSPHRASE',
    );
    expect(existsSync(file)).toBe(false);
    await ks.backupTo(file, custodians, { officer: 'sofia' });
    await ks.generateMasterKey({ officer: 'sofia' });
    expect((await ks.listKeys()).length).toBe(before.length + 1);
    const onDisk = readFileSync(fx.keystoreFile);
    for (const [passphrases, code] of [
      [[both[0], 'wrong backup pass'], 'KEYSTORE_WRONG_PASSPHRASE'],
      [['wrong backup pass', both[1]], 'KEYSTORE_WRONG_PASSPHRASE'],
      [[both[1], both[0]], 'KEYSTORE_WRONG_PASSPHRASE'],
      [[both[0], both[0]], 'KEYSTORE_BACKUP_SAME_PASSPHRASE'],
    ] as const) {
      await expectCode(ks.restoreFrom(file, passphrases, { officer: 'sofia' }), code);
    }
    expect(readFileSync(fx.keystoreFile).equals(onDisk)).toBe(true);
    expect((await ks.listKeys()).length).toBe(before.length + 1);
    await ks.restoreFrom(file, both, { officer: 'sofia' });
    expect(await ks.listKeys()).toEqual(before);
    await ks.close();
    ks = await fx.open({ createIfMissing: false }); // the restored keys are what is on disk now
    expect(await ks.listKeys()).toEqual(before);
    expect((await ks.cardKey('N-1002')).kcv).toBe(kcvAes(cardK('N-1002', 1)));
  });
});

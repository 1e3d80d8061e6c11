import { constants, createPublicKey, generateKeyPairSync, privateDecrypt, verify, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../src/card-sim/dev-transport-key';
import { aesCbc } from '../../../src/core/card/protocol/sm-crypto';
import { kcvAes, xorComponents } from '../../../src/core/crypto/kcv';
import { deriveKey, kdfCounterCmac } from '../../../src/core/crypto/sp800-108';
import { cardKeyKdfInput } from '../../../src/core/keystore/card-key-derivation';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import type { CardProfileKdfLabel } from '../../../src/core/keystore/keystore.types';
import { BACKENDS, createKeystoreFixture, custodian, type KeystoreFixture } from './keystore.fixture';

// The keystore calls the card protocol needs (docs/keystore.md, "Card profile"), checked against
// the card profile's own formulas over raw bytes that only this test knows.

const COMPONENTS = ['6b'.repeat(16) + '19'.repeat(16), 'c4'.repeat(8) + '7d'.repeat(24)].map((h) => Buffer.from(h, 'hex'));
const MK = xorComponents(COMPONENTS);
const K = (n: string, sn: number) => kdfCounterCmac(MK, cardKeyKdfInput(n, sn));
const CARD_ID = Buffer.from('0102030405060708', 'hex');
const expectCode = async (p: Promise<unknown>, code: string) => expect(p).rejects.toMatchObject({ name: 'AppError', code });

describe.each(BACKENDS)('card profile keys (%s backend)', (backend) => {
  let fx: KeystoreFixture;
  let ks: KeystoreService;

  beforeAll(async () => {
    fx = createKeystoreFixture(backend);
    ks = await fx.open();
    ks.ceremony.begin({ components: 2, officer: 'sofia' });
    COMPONENTS.forEach((c, i) => ks.ceremony.enterComponent(i + 1, c.toString('hex'), { custodian: custodian(i + 1) }));
    await ks.ceremony.finish({ expectedKcv: kcvAes(MK) });
    await ks.createBankCa({ commonName: 'Profile CA', officer: 'sofia' });
    await ks.createIssuerKey({ commonName: 'Profile Issuer', officer: 'sofia' });
  });
  afterAll(async () => {
    await ks.close();
    fx.dispose();
  });

  it('imports the vendor transport master key (audited by KCV) and derives a blank card transport key as the vendor does', async () => {
    await expectCode(ks.transportKey(CARD_ID), 'KEYSTORE_NO_TRANSPORT_KEY');
    await expectCode(ks.importTransportMasterKey(Buffer.alloc(15, 1), { officer: 'sofia', reason: 'dev stock' }), 'KEY_INVALID');
    const info = await ks.importTransportMasterKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, { officer: 'sofia', reason: 'development stock' });
    expect(info).toEqual({ kcv: kcvAes(DEV_VENDOR_TRANSPORT_MASTER_KEY), version: 1 });
    expect(fx.audit.filter((a) => a.action === 'keystore.transport_key.imported')).toEqual([
      { action: 'keystore.transport_key.imported', details: { officer: 'sofia', reason: 'development stock', kcv: info.kcv, version: 1 } },
    ]);
    // Card profile Appendix B: KT for VTMK 40..4F and card id 0102030405060708.
    expect((await ks.transportKey(CARD_ID)).kcv).toBe(kcvAes(Buffer.from('DA517DB2ABB69FBC1D99F5AB8043F3CC', 'hex')));
    await expectCode(ks.transportKey(Buffer.alloc(7)), 'CARD_ID_INVALID');
    // Not in the Keys contract's list yet (keystore.types.ts, StoredKeyPurpose).
    expect((await ks.listKeys()).map((k) => k.purpose)).not.toContain('transport');
  });

  it('keeps the transport master key across close and re-open', async () => {
    await ks.close();
    ks = await fx.open();
    expect((await ks.transportKey(CARD_ID)).kcv).toBe(kcvAes(Buffer.from('DA517DB2ABB69FBC1D99F5AB8043F3CC', 'hex')));
  });

  it('derives the profile KDF from a card key inside the keystore', async () => {
    const card = await ks.cardKey('N-PROFILE-1');
    const ctx = Buffer.from('101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f', 'hex');
    for (const label of ['OTAC SM ENC', 'OTAC SM MAC', 'OTAC SM RMAC', 'OTAC list ENC', 'OTAC list MAC', 'OTAC receipt', 'OTAC challenge'] as const) {
      const h = await ks.deriveCardProfileKey(card, label, ctx);
      expect(h.kcv, label).toBe(kcvAes(deriveKey(K('N-PROFILE-1', 1), label, ctx, 128)));
    }
    await expectCode(ks.deriveCardProfileKey(card, 'OTAC card key' as CardProfileKdfLabel, ctx), 'CRYPTO_BAD_INPUT');
    // A session key whose bytes may be known (here: a generated one) must not parent SM keys.
    await expectCode(ks.deriveCardProfileKey(await ks.generateSessionKey(), 'OTAC SM ENC', ctx), 'CRYPTO_BAD_INPUT');
  });

  it('encrypts a plaintext carrying K under an SM session key, audited, and only under such a key', async () => {
    const card = await ks.cardKey('N-PROFILE-2');
    const kt = await ks.transportKey(CARD_ID);
    const ctx = Buffer.alloc(32, 7);
    const sEnc = await ks.deriveCardProfileKey(kt, 'OTAC SM ENC', ctx);
    const n = Buffer.from('\x0bN-PROFILE-2', 'latin1');
    const tail = Buffer.concat([Buffer.from([1]), Buffer.alloc(65, 4), Buffer.from([3, 5, 0x80]), Buffer.alloc(15)]); // PERSONALISE's layout, padded
    const iv = Buffer.alloc(16, 9);
    const e = await ks.encryptWithCardKeys(sEnc, iv, [n, card, tail]);
    const ktBytes = deriveKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, 'OTAC transport', CARD_ID, 128);
    const sEncBytes = deriveKey(ktBytes, 'OTAC SM ENC', ctx, 128);
    expect(e).toEqual(aesCbc(sEncBytes, iv, Buffer.concat([n, K('N-PROFILE-2', 1), tail]), true));
    expect(fx.audit.filter((a) => a.action === 'keystore.card_key.encrypted_for_card').at(-1)?.details).toEqual({ n: 'N-PROFILE-2', sn: 1, kcv: card.kcv });

    await expectCode(ks.encryptWithCardKeys(sEnc, iv, [card, Buffer.alloc(1)]), 'CRYPTO_BAD_INPUT');
    await expectCode(ks.encryptWithCardKeys(card, iv, [card]), 'CRYPTO_BAD_INPUT');
    await expectCode(ks.encryptWithCardKeys(await ks.generateSessionKey(), iv, [card]), 'CRYPTO_BAD_INPUT');
    await ks.retireCardKey('N-PROFILE-2', { reason: 'test', operator: 'sam' });
    await expectCode(ks.encryptWithCardKeys(sEnc, iv, [card]), 'CARD_KEY_RETIRED');
  });

  it('makes public-key-mode list keys and wraps them for the card with RSA-OAEP (SHA-1)', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { enc, mac, wrapped } = await ks.generateWrappedListKeys(rsa.publicKey.export({ format: 'der', type: 'spki' }));
    const p = privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, wrapped);
    expect(p).toHaveLength(32);
    expect([enc.kcv, mac.kcv]).toEqual([kcvAes(p.subarray(0, 16)), kcvAes(p.subarray(16))]);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    await expectCode(ks.generateWrappedListKeys(ec), 'KEY_BAD_PUBLIC_KEY');
    await expectCode(ks.generateWrappedListKeys(Buffer.from('not a key')), 'KEY_BAD_PUBLIC_KEY');
  });

  it("gives the issuer key's card credential: S's point, signed by the bank CA over 01 || point", async () => {
    const { publicKey, caSignature } = await ks.issuerCardCredential();
    const issuerSpki = new X509Certificate(await ks.issuerCertificatePem()).publicKey.export({ format: 'der', type: 'spki' });
    expect(publicKey).toEqual(issuerSpki.subarray(-65));
    const ca = createPublicKey((await ks.caPublicKey()).pem);
    expect(verify('sha256', Buffer.concat([Buffer.from([1]), publicKey]), ca, caSignature)).toBe(true);
    expect(verify('sha256', publicKey, ca, caSignature)).toBe(false);
  });
});

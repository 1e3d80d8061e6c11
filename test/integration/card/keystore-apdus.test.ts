import { constants, createHash, generateKeyPairSync, privateDecrypt, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { ecPublicKeyFromPoint } from '../../../src/core/card/protocol/ec-keys';
import { prepareList, verifyListReceipt } from '../../../src/core/card/protocol/list-preparation';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import type { Keystore } from '../../../src/core/keystore/keystore.types';
import { cardDesk } from '../../support/activation-cards';
import {
  COMMIT,
  envelope01,
  envelope02,
  fci,
  listBody,
  openEnvelopeBody,
  readSignedList,
  receiptMac,
  SELECT,
  signedList,
  stage,
  wrappedIn,
} from '../../unit/card/support/profile-apdus';
import {
  CARD_ID,
  cardCryptogram,
  CC,
  HC,
  hex,
  kdf,
  KT,
  sessionKeys,
  smAnswer,
  smCommand,
  u32,
} from '../../unit/card/support/profile-reference';
import { scripted } from '../../unit/card/support/scripted-card';

// The workstation's own card crypto is the keystore's (card-profile-keys.service.ts, list-code
// service), not the raw port the unit APDU tests use: the same byte-for-byte checks against
// docs/card-profile.md through KeystoreCardKeyPort, as enrollment and push call it. The transport
// key is Appendix B's (development VTMK 40…4F, card id 0102030405060708); K is whatever the
// keystore derived for N, taken from its one clear exit, the mailer; everything expected is
// rebuilt from the profile's text (test/unit/card/support).

const N = 'N471108150';

describe("the keystore's PERSONALISE and list envelope, byte for byte against the profile", () => {
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let ks: Keystore;
  let k: Buffer;

  beforeAll(async () => {
    desk = await cardDesk('none');
    ks = desk.ws.keystore.current();
    const mailer = await ks.formatCustomerKeyForMailer(N, { operator: 'mia', role: 'manager', reason: 'APDU test' });
    const parsed = parseMailerKey(mailer.formatted);
    if (!parsed.ok) throw new Error('the mailer key does not parse');
    k = parsed.key;
  }, 60_000);

  afterAll(async () => {
    await desk?.dispose();
  });

  it('PERSONALISE under the transport key: OPEN SESSION and the SM command of 6.2, 6.3, 9.1', async () => {
    const port = new KeystoreCardKeyPort(ks);
    const handle = await ks.cardKey(N);
    const caPoint = (await ks.caPublicKey()).uncompressedPoint;
    const plaintext = Buffer.concat([
      Buffer.from([N.length]),
      Buffer.from(N, 'latin1'),
      k,
      Buffer.from([handle.sn]),
      caPoint,
      Buffer.from([3, 5]),
    ]);
    const st = sessionKeys(KT, HC, CC);
    const t = scripted([
      [SELECT, fci(0x7fff, true)],
      [`8050000010${hex(HC)}00`, hex(CC, cardCryptogram(st, HC, CC), '9000')],
      [smCommand(st, 1, '84E00000', plaintext), smAnswer(st, 1, Buffer.alloc(0), '9000')],
    ]);
    const host = new OtacCard(t, { hostChallenge: () => Buffer.from(HC) });
    await host.select();
    const transportKey = await port.transportKey(CARD_ID);
    const sm = await host.openSecureChannel(port, transportKey, 0);
    await sm.personalise({
      n: N,
      cardKey: port.cardKeyOf(handle),
      keyVersion: handle.sn,
      caPublicKey: caPoint,
      pinTries: 3,
      activationTries: 5,
    });
    await port.release(transportKey);
    expect(t.left()).toBe(0);
    expect(sm.isOpen).toBe(false);
  });

  it('a forged R-MAC on PERSONALISE is refused by the keystore too', async () => {
    const port = new KeystoreCardKeyPort(ks);
    const handle = await ks.cardKey(N);
    const st = sessionKeys(KT, HC, CC);
    const t = scripted([
      [SELECT, fci(0x7fff, true)],
      [`8050000010${hex(HC)}00`, hex(CC, cardCryptogram(st, HC, CC), '9000')],
    ]);
    const host = new OtacCard(
      { transmit: async (c) => (t.left() > 0 ? t.transmit(c) : Buffer.from(hex(Buffer.alloc(16), '9000'), 'hex')) },
      { hostChallenge: () => Buffer.from(HC) },
    );
    await host.select();
    const sm = await host.openSecureChannel(port, await port.transportKey(CARD_ID), 0);
    await expect(
      sm.personalise({
        n: N,
        cardKey: port.cardKeyOf(handle),
        keyVersion: handle.sn,
        caPublicKey: (await ks.caPublicKey()).uncompressedPoint,
        pinTries: 3,
        activationTries: 5,
      }),
    ).rejects.toMatchObject({ code: 'CARD_SM_RESPONSE_INVALID' });
  });

  it('the sealed list (7.2, 7.3), its STAGE LIST and COMMIT (7.4, 7.5) and the receipt check (7.6)', async () => {
    const port = new KeystoreCardKeyPort(ks);
    const handle = await ks.cardKey(N);
    const fields = {
      cardId: CARD_ID,
      listSeq: 7,
      listId: Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex'),
      expiry: 1_900_000_000,
      threshold: 10,
      digits: 6,
    };
    const list = await prepareList(
      port,
      await port.issuerKey(),
      { ...fields, length: 100 },
      { mode: 'card-key', cardKey: port.cardKeyOf(handle), keyVersion: handle.sn },
    );
    const ctx = Buffer.concat([CARD_ID, u32(fields.listSeq)]);
    const keys = { enc: kdf(k, 'OTAC list ENC', ctx), mac: kdf(k, 'OTAC list MAC', ctx) };
    // The codes and the ECDSA signature are the keystore's (its secret, a random nonce): read them
    // out at the profile's offsets, check them, and rebuild every other byte from the profile.
    const inside = readSignedList(openEnvelopeBody(list.envelope, keys.enc));
    const codes = Array.from({ length: 100 }, (_, i) =>
      inside.body.subarray(38 + i * 8 + 2, 38 + i * 8 + 8).toString('ascii'),
    );
    expect(codes.every((c) => /^[0-9]{6}$/.test(c))).toBe(true);
    const listRef = { ...fields, length: 100, mkVersion: list.mkVersion, sealedFor: list.sealedFor };
    expect(await ks.checkListCode(listRef, 1, codes[0] ?? '')).toBe(true);
    expect(await ks.checkListCode(listRef, 100, codes[99] ?? '')).toBe(true);
    const body = listBody(fields, codes);
    expect(hex(inside.body)).toBe(hex(body));
    const credential = await port.issuerCredential(await port.issuerKey());
    const caKey = ecPublicKeyFromPoint((await ks.caPublicKey()).uncompressedPoint);
    const issuerKey = ecPublicKeyFromPoint(credential.publicKey);
    if (!caKey || !issuerKey) throw new Error('keys do not parse');
    expect(
      verify(
        'sha256',
        Buffer.concat([Buffer.from([0x01]), credential.publicKey]),
        { key: caKey, dsaEncoding: 'der' },
        inside.caSig,
      ),
    ).toBe(true);
    expect(verify('sha256', body, { key: issuerKey, dsaEncoding: 'der' }, inside.issuerSig)).toBe(true);
    const expected = envelope01(
      keys,
      handle.sn,
      fields,
      signedList({ body, issuerPoint: credential.publicKey, caSig: inside.caSig, issuerSig: inside.issuerSig }),
    );
    expect(hex(list.envelope)).toBe(hex(expected));
    expect(hex(list.bodyHash)).toBe(createHash('sha256').update(body).digest('hex'));

    const receipt = receiptMac(kdf(k, 'OTAC receipt', ctx), fields, body);
    const t = scripted([
      [SELECT, fci(0x7fff, true)],
      [stage(0, list.envelope), '9000'],
      [COMMIT, hex(u32(fields.listSeq), receipt, '9000')],
    ]);
    const host = new OtacCard(t);
    await host.select();
    await verifyListReceipt(port, list, await host.loadList(list.envelope));
    expect(t.left()).toBe(0);
    const forged = Buffer.from(receipt);
    forged[15] = (forged[15] ?? 0) ^ 0x80;
    await expect(verifyListReceipt(port, list, { listSeq: fields.listSeq, mac: forged })).rejects.toMatchObject({
      code: 'CARD_RECEIPT_INVALID',
    });
    await port.release(list.receiptKey);
  });

  it('public-key mode: the keystore’s type 02 envelope (7.3) and its receipt key from E-MAC (7.6)', async () => {
    const port = new KeystoreCardKeyPort(ks);
    const card = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    const jwk = card.publicKey.export({ format: 'jwk' });
    const fields = {
      cardId: CARD_ID,
      listSeq: 8,
      listId: Buffer.from('FFEEDDCCBBAA99887766554433221100', 'hex'),
      expiry: 1_900_000_000,
      threshold: 10,
      digits: 6,
    };
    const list = await prepareList(
      port,
      await port.issuerKey(),
      { ...fields, length: 100 },
      {
        mode: 'public-key',
        cardPublicKey: {
          modulus: Buffer.from(jwk.n ?? '', 'base64url'),
          exponent: Buffer.from(jwk.e ?? '', 'base64url'),
        },
      },
    );
    const wrapped = wrappedIn(list.envelope);
    const p = privateDecrypt(
      { key: card.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      wrapped,
    );
    expect(p).toHaveLength(32);
    const inside = readSignedList(openEnvelopeBody(list.envelope, p.subarray(0, 16), 14 + 2 + 256));
    const codes = Array.from({ length: 100 }, (_, i) =>
      inside.body.subarray(38 + i * 8 + 2, 38 + i * 8 + 8).toString('ascii'),
    );
    const listRef = { ...fields, length: 100, mkVersion: list.mkVersion, sealedFor: list.sealedFor };
    expect(await ks.checkListCode(listRef, 50, codes[49] ?? '')).toBe(true);
    const body = listBody(fields, codes);
    const credential = await port.issuerCredential(await port.issuerKey());
    const issuerKey = ecPublicKeyFromPoint(credential.publicKey);
    if (!issuerKey) throw new Error('the issuer key does not parse');
    expect(verify('sha256', body, { key: issuerKey, dsaEncoding: 'der' }, inside.issuerSig)).toBe(true);
    const signed = signedList({
      body,
      issuerPoint: credential.publicKey,
      caSig: inside.caSig,
      issuerSig: inside.issuerSig,
    });
    expect(hex(list.envelope)).toBe(hex(envelope02(p, wrapped, fields, signed)));
    const ctx = Buffer.concat([CARD_ID, u32(fields.listSeq)]);
    await verifyListReceipt(port, list, {
      listSeq: fields.listSeq,
      mac: receiptMac(kdf(p.subarray(16, 32), 'OTAC receipt', ctx), fields, body),
    });
    await port.release(list.receiptKey);
  });
});

import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../src/card-sim/dev-transport-key';
import {
  ENVELOPE_CARD_KEY,
  deriveReceiptKey,
  envelopeKeysFromCardKey,
  openEnvelope,
  parseEnvelope,
  sha256,
} from '../../../src/core/card/protocol/list-envelope';
import { decodeListBody, decodeSignedList } from '../../../src/core/card/protocol/list-format';
import { INS } from '../../../src/core/card/protocol/profile.constants';
import { deriveChallengeKey, deriveSessionKeys, smUnwrapCommand } from '../../../src/core/card/protocol/sm-crypto';
import { aesCmac } from '../../../src/core/crypto/aes-cmac';
import { kcvAes, xorComponents } from '../../../src/core/crypto/kcv';
import { deriveKey, kdfCounterCmac } from '../../../src/core/crypto/sp800-108';
import { cardKeyKdfInput } from '../../../src/core/keystore/card-key-derivation';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import { BACKENDS, createKeystoreFixture, openIssuerKeystore, type KeystoreFixture } from './keystore.fixture';

// The keystore calls the card protocol needs (docs/keystore.md, "Card profile"), checked against
// the card profile's own formulas over raw bytes that only this test knows.

const COMPONENTS = ['6b'.repeat(16) + '19'.repeat(16), 'c4'.repeat(8) + '7d'.repeat(24)].map((h) =>
  Buffer.from(h, 'hex'),
);
const MK = xorComponents(COMPONENTS);
const K = (n: string, sn: number) => kdfCounterCmac(MK, cardKeyKdfInput(n, sn));
const CARD_ID = Buffer.from('0102030405060708', 'hex');
const expectCode = async (p: Promise<unknown>, code: string) =>
  expect(p).rejects.toMatchObject({ name: 'AppError', code });

describe.each(BACKENDS)('card profile keys (%s backend)', (backend) => {
  let fx: KeystoreFixture;
  let ks: KeystoreService;

  beforeAll(async () => {
    fx = createKeystoreFixture(backend);
    ks = await openIssuerKeystore(fx, COMPONENTS, 'Profile');
  });
  afterAll(async () => {
    await ks.close();
    fx.dispose();
  });

  it('imports the vendor transport master key (audited by KCV) and derives a blank card transport key as the vendor does', async () => {
    await expectCode(ks.transportKey(CARD_ID), 'KEYSTORE_NO_TRANSPORT_KEY');
    await expectCode(
      ks.importTransportMasterKey(Buffer.alloc(15, 1), { officer: 'sofia', approver: 'omar', reason: 'dev stock' }),
      'KEY_INVALID',
    );
    const info = await ks.importTransportMasterKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, {
      officer: 'sofia',
      approver: 'omar',
      reason: 'development stock',
    });
    expect(info).toEqual({ kcv: kcvAes(DEV_VENDOR_TRANSPORT_MASTER_KEY), version: 1 });
    expect(fx.audit.filter((a) => a.action === 'keystore.transport_key.imported')).toEqual([
      {
        action: 'keystore.transport_key.imported',
        details: { officer: 'sofia', approvedBy: 'omar', reason: 'development stock', kcv: info.kcv, version: 1 },
      },
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

  it('seals a card-key list, verifies its receipt and a challenge-response, all with keys derived from K inside', async () => {
    const card = await ks.cardKey('N-PROFILE-1');
    const k = K('N-PROFILE-1', 1);
    const request = {
      cardId: CARD_ID,
      listSeq: 9,
      listId: Buffer.alloc(16, 9),
      length: 5,
      digits: 6,
      expiry: 1_900_000_000,
      threshold: 1,
    };
    const { envelope, receiptKey, bodyHash } = await ks.issueCodeList({ mode: 'card-key', card }, request);
    const parsed = parseEnvelope(envelope);
    expect(parsed.header).toMatchObject({ type: ENVELOPE_CARD_KEY, keyVersion: 1, listSeq: 9 });
    const signed = decodeSignedList(openEnvelope(parsed, envelopeKeysFromCardKey(k, CARD_ID, 9)) ?? Buffer.alloc(0));
    expect(decodeListBody(signed.body)).toMatchObject({ listSeq: 9, codeLength: 6, threshold: 1 });
    expect(sha256(signed.body)).toEqual(bodyHash);
    const receipt = Buffer.from('commit receipt message');
    expect(await ks.verifyReceipt(receiptKey, receipt, aesCmac(deriveReceiptKey(k, CARD_ID, 9), receipt))).toBe(true);
    expect(await ks.verifyReceipt(receiptKey, receipt, aesCmac(deriveReceiptKey(k, CARD_ID, 8), receipt))).toBe(false);
    const challenge = Buffer.concat([Buffer.from([2]), CARD_ID, Buffer.alloc(16, 5)]);
    expect(
      await ks.verifyChallengeResponse(card, CARD_ID, challenge, aesCmac(deriveChallengeKey(k, CARD_ID), challenge)),
    ).toBe(true);
    expect(await ks.verifyChallengeResponse(card, CARD_ID, challenge, aesCmac(k, challenge))).toBe(false);
    await ks.release(receiptKey);
    await expectCode(ks.verifyReceipt(receiptKey, receipt, Buffer.alloc(16)), 'KEY_NOT_FOUND');
  });

  it('puts K into PERSONALISE under a transport session, audited, and into no other command or session', async () => {
    const card = await ks.cardKey('N-PROFILE-2');
    const kt = await ks.transportKey(CARD_ID);
    const host = Buffer.alloc(16, 7);
    const chal = Buffer.alloc(16, 8);
    const session = await ks.openSecureSession(kt, host, chal);
    expect(session.base).toBe('transport');
    const n = Buffer.from('\x0bN-PROFILE-2', 'latin1');
    const tail = Buffer.concat([Buffer.from([1]), Buffer.alloc(65, 4), Buffer.from([3, 5])]); // PERSONALISE's layout
    const header = { cla: 0x84, ins: INS.PERSONALISE, p1: 0, p2: 0 };
    const e = await ks.wrapSecureCommand(session, 0, header, [n, { keyOf: card }, tail]);
    const ktBytes = deriveKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, 'OTAC transport', CARD_ID, 128);
    expect(smUnwrapCommand(deriveSessionKeys(ktBytes, host, chal), 0, header, e)).toEqual(
      Buffer.concat([n, K('N-PROFILE-2', 1), tail]),
    );
    expect(fx.audit.filter((a) => a.action === 'keystore.card_key.personalised').at(-1)?.details).toEqual({
      n: 'N-PROFILE-2',
      sn: 1,
      kcv: card.kcv,
    });

    const refused = async (p: Promise<unknown>) => expectCode(p, 'KEY_WRONG_USE');
    await refused(ks.wrapSecureCommand(session, 1, { ...header, ins: INS.GET_STATE }, [{ keyOf: card }])); // another command
    await refused(ks.wrapSecureCommand(session, 1, header, [{ keyOf: card }, { keyOf: card }])); // two keys
    await refused(ks.wrapSecureCommand(session, 1, header, [{ kcvOf: card }])); // only the key itself goes into PERSONALISE
    const cardSession = await ks.openSecureSession(card, host, chal);
    await refused(ks.wrapSecureCommand(cardSession, 1, header, [{ keyOf: card }])); // under a card session
    await refused(
      ks.wrapSecureCommand(cardSession, 1, { ...header, ins: INS.ROTATE_KEY, p1: 1 }, [
        { keyOf: card },
        { kcvOf: card },
      ]),
    ); // not the pending key
    await ks.retireCardKey('N-PROFILE-2', { reason: 'test', operator: 'sam' });
    await refused(ks.wrapSecureCommand(session, 1, header, [{ keyOf: card }])); // a retired K
    await expectCode(ks.wrapSecureCommand(cardSession, 1, { ...header, ins: INS.GET_STATE }, []), 'CARD_KEY_RETIRED');
  });

  it("gives the issuer key's card credential: S's point, signed by the bank CA over 01 || point", async () => {
    const { publicKey, caSignature } = await ks.issuerCardCredential();
    const issuerSpki = new X509Certificate(await ks.issuerCertificatePem()).publicKey.export({
      format: 'der',
      type: 'spki',
    });
    expect(publicKey).toEqual(issuerSpki.subarray(-65));
    const ca = createPublicKey((await ks.caPublicKey()).pem);
    expect(verify('sha256', Buffer.concat([Buffer.from([1]), publicKey]), ca, caSignature)).toBe(true);
    expect(verify('sha256', publicKey, ca, caSignature)).toBe(false);
  });
});

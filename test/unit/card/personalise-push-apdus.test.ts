import {
  constants,
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CardError } from '../../../src/core/card/card-error';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { prepareList, verifyListReceipt, type PreparedList } from '../../../src/core/card/protocol/list-preparation';
import { RawCardKeyPort } from '../../../src/core/card/raw-card-key-port';
import { aesCmac } from '../../../src/core/crypto/aes-cmac';
import {
  CARD_CRYPTOGRAM,
  CARD_ID,
  cardCryptogram,
  CC,
  E_ENC_1,
  E_MAC_1,
  HC,
  hex,
  K,
  kdf,
  KT,
  RECEIPT_KEY_1,
  S_ENC,
  S_MAC,
  S_RMAC,
  sessionKeys,
  smAnswer,
  smCommand,
  u32,
} from './support/profile-reference';
import {
  COMMIT,
  envelope01,
  envelope02,
  fci,
  GET_RECEIPT,
  GET_STATE,
  listBody,
  openEnvelopeBody,
  readSignedList,
  receiptMac,
  SELECT,
  signedList,
  stage,
  stageChained,
  stateAnswer,
  wrappedIn,
} from './support/profile-apdus';
import { scripted, type ScriptStep } from './support/scripted-card';

// The host's PERSONALISE (enrollment) and list push (STAGE LIST, COMMIT LIST, GET RECEIPT and the
// receipt check), byte for byte against docs/card-profile.md (3, 3.1, 6.2–6.4, 7.2–7.6, 9.1, 11,
// 12) with fixed keys, challenges and list: every expected byte is built here from the profile's
// text and Appendix B, not from the host's SM, envelope or list code. The push uses no secure
// messaging (profile 7.1: envelopes travel in plain 80 commands); its authenticity is the envelope
// MAC one way and the receipt the other. ACTIVATE and ROTATE KEY: activation-apdus.test.ts.

/** A fixed P-256 key pair from a fixed private scalar. */
function p256(d: string): { privateKey: KeyObject; publicKey: KeyObject; point: Buffer } {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(d, 'hex'));
  const point = ecdh.getPublicKey();
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33).toString('base64url'),
  };
  return {
    privateKey: createPrivateKey({ key: { ...jwk, d: Buffer.from(d, 'hex').toString('base64url') }, format: 'jwk' }),
    publicKey: createPublicKey({ key: jwk, format: 'jwk' }),
    point,
  };
}

const CA = p256('0A'.repeat(32));
const ISSUER = p256('1B'.repeat(32));
/** Profile 7.2: caSig = ECDSA-P256-SHA256 by the CA over 01 || issuer public key (DER). */
const CA_SIG = sign('sha256', Buffer.concat([Buffer.from([0x01]), ISSUER.point]), {
  key: CA.privateKey,
  dsaEncoding: 'der',
});

const N = 'N-4711-0815';
/** Profile 9.1: [len(N)]8 || N || K || K version || CA public key || PIN try limit || activation try limit. */
const PERSONALISATION = Buffer.concat([
  Buffer.from([N.length]),
  Buffer.from(N, 'latin1'),
  K,
  Buffer.from([0x01]),
  CA.point,
  Buffer.from([3, 5]),
]);
const NO_DATA = Buffer.alloc(0);
const ST = sessionKeys(KT, HC, CC); // the session of a blank card, under its transport key
const OPEN_UNDER_KT: ScriptStep = [`8050000010${hex(HC)}00`, hex(CC, cardCryptogram(ST, HC, CC), '9000')];
const PERSONALISE = smCommand(ST, 1, '84E00000', PERSONALISATION);

async function personalise(t: ReturnType<typeof scripted>) {
  const port = new RawCardKeyPort();
  const host = new OtacCard(t, { hostChallenge: () => Buffer.from(HC) });
  await host.select();
  const sm = await host.openSecureChannel(port, port.importAesKey(KT), 0);
  const done = sm.personalise({
    n: N,
    cardKey: port.importAesKey(K),
    keyVersion: 1,
    caPublicKey: CA.point,
    pinTries: 3,
    activationTries: 5,
  });
  return { sm, done };
}

describe('the profile reference used below', () => {
  it('reproduces Appendix B (KDF of 1.2, session keys and cryptogram of 6.2, list and receipt keys of 7.3, 7.6)', () => {
    const s = sessionKeys(K, HC, CC);
    expect([s.enc, s.mac, s.rmac].map((b) => hex(b))).toEqual([S_ENC, S_MAC, S_RMAC].map((b) => hex(b)));
    expect(hex(cardCryptogram(s, HC, CC))).toBe(hex(CARD_CRYPTOGRAM));
    const ctx = Buffer.concat([CARD_ID, u32(1)]);
    expect(hex(kdf(K, 'OTAC list ENC', ctx))).toBe(hex(E_ENC_1));
    expect(hex(kdf(K, 'OTAC list MAC', ctx))).toBe(hex(E_MAC_1));
    expect(hex(kdf(K, 'OTAC receipt', ctx))).toBe(hex(RECEIPT_KEY_1));
    expect(hex(kdf(Buffer.from('404142434445464748494A4B4C4D4E4F', 'hex'), 'OTAC transport', CARD_ID))).toBe(hex(KT));
  });
});

describe("the host's PERSONALISE, byte for byte (enrollment)", () => {
  it('SELECT, OPEN SESSION 80 50 00 00 10 <HC> 00 under the transport key, PERSONALISE 84 E0 00 00 under SM; the session ends', async () => {
    const t = scripted([[SELECT, fci(0x7fff, true)], OPEN_UNDER_KT, [PERSONALISE, smAnswer(ST, 1, NO_DATA, '9000')]]);
    const { sm, done } = await personalise(t);
    await done;
    expect(t.left()).toBe(0);
    expect(sm.isOpen).toBe(false);
    // Short APDUs only: the SM data field (E of 96 bytes padded, T) fits 255 bytes on any reader.
    expect(PERSONALISE.slice(8, 10)).toBe('80');
  });

  it('a wrong card cryptogram stops the host before PERSONALISE (profile 6.2: never continue, never retry)', async () => {
    const other = sessionKeys(K, HC, CC); // a card holding another key
    const t = scripted([
      [SELECT, fci(0x7fff, true)],
      [OPEN_UNDER_KT[0], hex(CC, cardCryptogram(other, HC, CC), '9000')],
    ]);
    const port = new RawCardKeyPort();
    const host = new OtacCard(t, { hostChallenge: () => Buffer.from(HC) });
    await host.select();
    await expect(host.openSecureChannel(port, port.importAesKey(KT), 0)).rejects.toMatchObject({
      code: 'CARD_AUTH_FAILED',
    });
    expect(t.left()).toBe(0);
  });

  it('an authentic 6A80 (bad personalisation data) is the card’s refusal; the session closes', async () => {
    const t = scripted([[SELECT, fci(0x7fff, true)], OPEN_UNDER_KT, [PERSONALISE, smAnswer(ST, 1, NO_DATA, '6A80')]]);
    const { sm, done } = await personalise(t);
    await expect(done).rejects.toMatchObject({ sw: 0x6a80 });
    expect(sm.isOpen).toBe(false);
    expect(t.left()).toBe(0);
  });

  it('a 9000 whose R-MAC is wrong (forged, or replayed from another command) is not believed (profile 6.4, 12)', async () => {
    for (const forged of [
      hex(aesCmac(ST.mac, Buffer.concat([u32(1), Buffer.from('9000', 'hex')])), '9000'), // under S-MAC, not S-RMAC
      smAnswer(ST, 2, NO_DATA, '9000'), // the right key, another counter
      smAnswer(sessionKeys(KT, HC, HC), 1, NO_DATA, '9000'), // another session
      smAnswer(ST, 1, NO_DATA, '6A80').slice(0, -4) + '9000', // an error's R-MAC with its SW changed
    ]) {
      const t = scripted([[SELECT, fci(0x7fff, true)], OPEN_UNDER_KT, [PERSONALISE, forged]]);
      const { sm, done } = await personalise(t);
      await expect(done).rejects.toMatchObject({ code: 'CARD_SM_RESPONSE_INVALID' });
      expect(sm.isOpen).toBe(false);
    }
  });

  it('6988 (the card found the command MAC wrong) ends the session; nothing more is sent under it', async () => {
    const t = scripted([[SELECT, fci(0x7fff, true)], OPEN_UNDER_KT, [PERSONALISE, '6988']]);
    const { sm, done } = await personalise(t);
    await expect(done).rejects.toMatchObject({ sw: 0x6988 });
    await expect(sm.readState()).rejects.toMatchObject({ code: 'CARD_SESSION_CLOSED' });
    expect(t.left()).toBe(0);
  });

  it('a session under K (key version 01) with Appendix B’s challenges: its GET STATE is Appendix B’s data field', async () => {
    const s = sessionKeys(K, HC, CC);
    const stateTlv = Buffer.from(stateAnswer(0x03, N, 1, 0).slice(0, -4), 'hex');
    const t = scripted([
      [SELECT, fci(0x7fff, true)],
      [`8050010010${hex(HC)}00`, hex(CC, CARD_CRYPTOGRAM, '9000')],
      // Appendix B: GET STATE under SM, c = 1: data = T only.
      ['84CA000010A918CF976C737539C20C4DA0D888DEE200', smAnswer(s, 1, stateTlv, '9000')],
    ]);
    expect(smCommand(s, 1, '84CA0000', NO_DATA)).toBe('84CA000010A918CF976C737539C20C4DA0D888DEE200'.toLowerCase());
    const port = new RawCardKeyPort();
    const host = new OtacCard(t, { hostChallenge: () => Buffer.from(HC) });
    await host.select();
    const sm = await host.openSecureChannel(port, port.importAesKey(K), 1);
    expect(await sm.readState()).toMatchObject({ lifeCycle: 'personalised', n: N, keyVersion: 1 });
    expect(t.left()).toBe(0);
  });
});

// A fixed list: 100 codes of 6 digits for CARD_ID, seq 1, sealed under K (version 01).
const LIST_ID = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
const SPEC = {
  cardId: CARD_ID,
  listSeq: 1,
  listId: LIST_ID,
  expiry: 1_900_000_000,
  threshold: 10,
  length: 100,
  digits: 6,
};

interface HostList {
  readonly port: RawCardKeyPort;
  readonly list: PreparedList;
  readonly body: Buffer;
  readonly envelope: Buffer;
  readonly receipt: Buffer;
}

/** Profile 7.2 and 7.3: the signed list with the host's issuer signature, in a type 01 envelope under Appendix B's E-ENC/E-MAC. */
function expectedEnvelope(body: Buffer, issuerSig: Buffer): Buffer {
  const signed = signedList({ body, issuerPoint: ISSUER.point, caSig: CA_SIG, issuerSig });
  return envelope01({ enc: E_ENC_1, mac: E_MAC_1 }, 0x01, SPEC, signed);
}

async function hostList(): Promise<HostList> {
  const port = new RawCardKeyPort(Buffer.alloc(32, 0x5a));
  const issuerKey = port.importIssuerKey(ISSUER.privateKey, CA_SIG);
  const list = await prepareList(port, issuerKey, SPEC, {
    mode: 'card-key',
    cardKey: port.importAesKey(K),
    keyVersion: 1,
  });
  const body = listBody(SPEC, port.codesOf(SPEC));
  return { port, list, body, envelope: list.envelope, receipt: receiptMac(RECEIPT_KEY_1, SPEC, body) };
}

describe("the host's list push, byte for byte", () => {
  it('the envelope the host seals is the profile’s: body (7.2), signed list, type 01 envelope under E-ENC/E-MAC (7.3)', async () => {
    const h = await hostList();
    const sig = readSignedList(openEnvelopeBody(h.envelope, E_ENC_1)).issuerSig;
    // ECDSA draws a random nonce, so the signature is the one input taken from the host: it must
    // verify under the issuer key over exactly the profile's body, and everything else is rebuilt.
    expect(verify('sha256', h.body, { key: ISSUER.publicKey, dsaEncoding: 'der' }, sig)).toBe(true);
    expect(hex(h.envelope)).toBe(hex(expectedEnvelope(h.body, sig)));
    expect(h.body).toHaveLength(38 + 100 * 8);
    expect(hex(h.list.bodyHash)).toBe(createHash('sha256').update(h.body).digest('hex'));
  });

  it('public-key mode: a type 02 envelope (7.3) with P under the card’s RSA key (OAEP SHA-1), its receipt key from E-MAC (7.6)', async () => {
    const card = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    const jwk = card.publicKey.export({ format: 'jwk' });
    const port = new RawCardKeyPort(Buffer.alloc(32, 0x5a));
    const issuerKey = port.importIssuerKey(ISSUER.privateKey, CA_SIG);
    const list = await prepareList(port, issuerKey, SPEC, {
      mode: 'public-key',
      cardPublicKey: {
        modulus: Buffer.from(jwk.n ?? '', 'base64url'),
        exponent: Buffer.from(jwk.e ?? '', 'base64url'),
      },
    });
    // P is fresh per list (the host's CSPRNG): the card's private key recovers it, as the card does.
    const wrapped = wrappedIn(list.envelope);
    expect(wrapped).toHaveLength(256);
    const p = privateDecrypt(
      { key: card.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      wrapped,
    );
    expect(p).toHaveLength(32);
    const body = listBody(SPEC, port.codesOf(SPEC));
    const sig = readSignedList(openEnvelopeBody(list.envelope, p.subarray(0, 16), 14 + 2 + 256)).issuerSig;
    expect(verify('sha256', body, { key: ISSUER.publicKey, dsaEncoding: 'der' }, sig)).toBe(true);
    const signed = signedList({ body, issuerPoint: ISSUER.point, caSig: CA_SIG, issuerSig: sig });
    expect(hex(list.envelope)).toBe(hex(envelope02(p, wrapped, SPEC, signed)));
    const ctx = Buffer.concat([CARD_ID, u32(1)]);
    const receipt = receiptMac(kdf(p.subarray(16, 32), 'OTAC receipt', ctx), SPEC, body);
    await verifyListReceipt(port, list, { listSeq: 1, mac: receipt });
    // The type 01 receipt key (from K) does not confirm a type 02 list.
    await expect(
      verifyListReceipt(port, list, { listSeq: 1, mac: receiptMac(RECEIPT_KEY_1, SPEC, body) }),
    ).rejects.toMatchObject({ code: 'CARD_RECEIPT_INVALID' });
  });

  it('extended length: one STAGE LIST 80 52 00 00 00 <Lc 2> <envelope>, then COMMIT 80 54 00 00 00; the receipt verifies', async () => {
    const h = await hostList();
    expect(h.envelope.length).toBeGreaterThan(255);
    const t = scripted([
      [SELECT, fci(0x7fff, true)],
      [stage(0, h.envelope), '9000'],
      [COMMIT, hex(u32(1), h.receipt, '9000')],
    ]);
    const host = new OtacCard(t);
    await host.select();
    const receipt = await host.loadList(h.envelope);
    await verifyListReceipt(h.port, h.list, receipt);
    expect(t.left()).toBe(0);
  });

  it('short APDUs only (reader without extended length): STAGE chunk 0 as a chain 90 52 … / 80 52 … of ≤ 255 bytes (11.2)', async () => {
    const h = await hostList();
    const chain = stageChained(0, h.envelope);
    expect(chain.length).toBe(Math.ceil(h.envelope.length / 255));
    const t = scripted([[SELECT, fci(0x7fff, true)], ...chain, [COMMIT, hex(u32(1), h.receipt, '9000')]]);
    const host = new OtacCard(t, { readerExtendedLength: false });
    await host.select();
    await verifyListReceipt(h.port, h.list, await host.loadList(h.envelope));
    expect(t.left()).toBe(0);
    // A card without extended length (FCI D6 b1 clear) gets the same chain.
    const t2 = scripted([[SELECT, fci(0x7fff, false)], ...chain, [COMMIT, hex(u32(1), h.receipt, '9000')]]);
    const host2 = new OtacCard(t2);
    await host2.select();
    await verifyListReceipt(h.port, h.list, await host2.loadList(h.envelope));
    expect(t2.left()).toBe(0);
  });

  it('a card taking fewer bytes per APDU (FCI D5) gets chunks numbered 0, 1, 2 in P1-P2 (7.4)', async () => {
    const h = await hostList();
    const chunks = [0, 512, 1024].map((o) => h.envelope.subarray(o, o + 512)).filter((c) => c.length > 0);
    expect(chunks).toHaveLength(3);
    const t = scripted([
      [SELECT, fci(512, true)],
      ...chunks.map((c, n): ScriptStep => [stage(n, c), '9000']),
      [COMMIT, hex(u32(1), h.receipt, '9000')],
    ]);
    const host = new OtacCard(t);
    await host.select();
    await verifyListReceipt(h.port, h.list, await host.loadList(h.envelope));
    expect(t.left()).toBe(0);
  });

  it('a COMMIT answer lost with the card: at the next presentation GET STATE shows it committed, GET RECEIPT 80 56 00 00 00 confirms (7.6, 12)', async () => {
    const h = await hostList();
    const pulled = new CardError('CARD_REMOVED', 'The card was removed.');
    const first = scripted([
      [SELECT, fci(0x7fff, true)],
      [stage(0, h.envelope), '9000'],
      [COMMIT, pulled],
    ]);
    const host = new OtacCard(first);
    await host.select();
    await expect(host.loadList(h.envelope)).rejects.toBe(pulled);
    // Next presentation; the receipt comes back in two parts (61xx, GET RESPONSE: 11.3).
    const answer = hex(u32(1), h.receipt);
    const next = scripted([
      [SELECT, fci(0x7fff, true)],
      [GET_STATE, stateAnswer(0x07, N, 1, 1)],
      [GET_RECEIPT, answer.slice(0, 16) + '610C'],
      ['00C000000C', answer.slice(16) + '9000'],
    ]);
    const again = new OtacCard(next);
    await again.select();
    expect((await again.getState()).lastListSeq).toBe(1);
    await verifyListReceipt(h.port, h.list, await again.getReceipt());
    expect(next.left()).toBe(0);
  });

  it('a STAGE torn mid-chain: the next presentation sees nothing committed and sends the same envelope again from chunk 0 (7.4, 12)', async () => {
    const h = await hostList();
    const chain = stageChained(0, h.envelope);
    const pulled = new CardError('CARD_REMOVED', 'The card was removed.');
    const first = scripted([[SELECT, fci(0x7fff, true)], chain[0]!, chain[1]!, [chain[2]![0], pulled]]);
    const host = new OtacCard(first, { readerExtendedLength: false });
    await host.select();
    await expect(host.loadList(h.envelope)).rejects.toBe(pulled);
    expect(first.left()).toBe(0);
    const next = scripted([
      [SELECT, fci(0x7fff, true)],
      [GET_STATE, stateAnswer(0x07, N, 1, 0)],
      ...chain,
      [COMMIT, hex(u32(1), h.receipt, '9000')],
    ]);
    const again = new OtacCard(next, { readerExtendedLength: false });
    await again.select();
    expect((await again.getState()).lastListSeq).toBe(0);
    await verifyListReceipt(h.port, h.list, await again.loadList(h.envelope));
    expect(next.left()).toBe(0);
  });

  it.each([
    ['6982', 'envelope MAC or signature failed'],
    ['6985', 'replay: list seq not newer'],
    ['6A80', 'envelope for another card'],
    ['6A88', 'envelope for another key version'],
  ])('COMMIT refused with %s (%s) is an error carrying the SW, and no receipt is taken', async (sw) => {
    const h = await hostList();
    const t = scripted([
      [SELECT, fci(0x7fff, true)],
      [stage(0, h.envelope), '9000'],
      [COMMIT, sw],
    ]);
    const host = new OtacCard(t);
    await host.select();
    await expect(host.loadList(h.envelope)).rejects.toMatchObject({ sw: parseInt(sw, 16) });
    expect(t.left()).toBe(0);
  });

  it('a refused STAGE (6A84 too large, 6A86 out of order, 6883 chain broken) stops the push before COMMIT', async () => {
    const h = await hostList();
    for (const [sw, chained] of [
      ['6A84', false],
      ['6A86', false],
      ['6883', true],
    ] as const) {
      const chain = stageChained(0, h.envelope);
      const t = scripted([[SELECT, fci(0x7fff, true)], chained ? [chain[0]![0], sw] : [stage(0, h.envelope), sw]]);
      const host = new OtacCard(t, { readerExtendedLength: !chained });
      await host.select();
      await expect(host.loadList(h.envelope)).rejects.toMatchObject({ sw: parseInt(sw, 16) });
      expect(t.left()).toBe(0);
    }
  });

  it('a receipt that does not prove this list is refused (the list stays inactive): wrong MAC, other seq, other list', async () => {
    const h = await hostList();
    const flipped = Buffer.from(h.receipt);
    flipped[0] = (flipped[0] ?? 0) ^ 0x01;
    const otherList = aesCmac(
      RECEIPT_KEY_1,
      Buffer.concat([
        Buffer.from([0x52]),
        CARD_ID,
        u32(1),
        Buffer.alloc(16),
        createHash('sha256').update(h.body).digest(),
      ]),
    );
    for (const answer of [
      hex(u32(1), flipped),
      hex(u32(2), h.receipt),
      hex(u32(1), otherList),
      hex(u32(1), aesCmac(E_MAC_1, Buffer.from('52', 'hex'))),
    ]) {
      const t = scripted([
        [SELECT, fci(0x7fff, true)],
        [GET_RECEIPT, answer + '9000'],
      ]);
      const host = new OtacCard(t);
      await host.select();
      const receipt = await host.getReceipt();
      await expect(verifyListReceipt(h.port, h.list, receipt)).rejects.toMatchObject({ code: 'CARD_RECEIPT_INVALID' });
    }
  });
});

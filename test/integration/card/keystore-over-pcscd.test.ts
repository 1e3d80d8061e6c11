import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardStore } from '../../../src/card-sim/card-store';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../src/card-sim/dev-transport-key';
import { decodeCommand } from '../../../src/core/card/apdu.codec';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import type { CardTransport } from '../../../src/core/card/transport';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { deriveReceiptKey, envelopeKeysFromCardKey } from '../../../src/core/card/protocol/list-envelope';
import { prepareList, verifyListReceipt } from '../../../src/core/card/protocol/list-preparation';
import { INS } from '../../../src/core/card/protocol/profile.constants';
import { deriveChallengeKey, deriveSessionKeys, deriveTransportKey } from '../../../src/core/card/protocol/sm-crypto';
import { kcvAes, xorComponents } from '../../../src/core/crypto/kcv';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { kdfCounterCmac } from '../../../src/core/crypto/sp800-108';
import { cardKeyKdfInput } from '../../../src/core/keystore/card-key-derivation';
import { PassphraseKekProvider } from '../../../src/core/keystore/kek-provider';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import { decodeKeystoreFile } from '../../../src/core/keystore/keystore-file.codec';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import type { Keystore } from '../../../src/core/keystore/keystore.types';
import { EventRecorder } from '../../support/event-recorder';
import { useTestbed, type Testbed } from '../../support/testbed';
import { PIN } from '../../unit/card/support/in-process-card';
import {
  BACKENDS,
  createKeystoreFixture,
  custodian,
  PASSPHRASE,
  TEST_COST,
  type KeystoreFixture,
} from '../keystore/keystore.fixture';
import { encodings } from '../../support/secret-encodings';

// The whole card life of protocol-over-pcscd — personalise a blank card, activate it with K from
// the mailer, push a signed list, read the counters under SM, rotate the card key, push lists
// under K' and in public-key mode — with the keystore as the CardKeyPort, through pcsclite →
// pcscd → vpcd → card process. Then a secret scan: no key the keystore holds may show in clear in any APDU or in what the keystore returned.

const COMPONENTS = ['2d'.repeat(16) + 'e1'.repeat(16), '93'.repeat(8) + '5a'.repeat(24)].map((h) =>
  Buffer.from(h, 'hex'),
);
const MK = xorComponents(COMPONENTS);
const N = 'N-4711-0815';
const K = (sn: number) => kdfCounterCmac(MK, cardKeyKdfInput(N, sn));

interface Exchange {
  readonly command: Buffer;
  readonly response: Buffer;
}

/** Every APDU both ways. */
function recordingTransport(t: CardTransport, log: Exchange[]): CardTransport {
  return {
    async transmit(command: Buffer): Promise<Buffer> {
      const response = await t.transmit(command);
      log.push({ command: Buffer.from(command), response: Buffer.from(response) });
      return response;
    },
  };
}

/** The keystore as the port sees it, keeping every value it hands back. */
function recordingKeystore(ks: Keystore, outputs: unknown[]): Keystore {
  return new Proxy(ks, {
    get(target, prop, receiver) {
      const member: unknown = Reflect.get(target, prop, receiver);
      if (typeof member !== 'function') return member;
      return (...args: unknown[]): unknown => {
        const result: unknown = Reflect.apply(member as (...a: unknown[]) => unknown, target, args);
        if (!(result instanceof Promise)) return (outputs.push(result), result);
        return result.then((value: unknown) => (outputs.push({ call: String(prop), value }), value));
      };
    },
  });
}

/** Every byte string and string inside `v`, raw (latin1), hex and base64 — not JSON, whose escapes would hide raw bytes. */
function haystack(v: unknown): string {
  const out: string[] = [];
  const walk = (x: unknown): void => {
    if (x instanceof Uint8Array) {
      const b = Buffer.from(x);
      out.push(b.toString('latin1'), b.toString('hex'), b.toString('base64'));
    } else if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x !== null && typeof x === 'object') Object.values(x).forEach(walk);
  };
  walk(v);
  return out.join('\n');
}

describe.each(BACKENDS)('card protocol on keystore handles over pcscd + vpcd (%s keystore)', (backend) => {
  let bed: Testbed;
  let service: PcscReaderService;
  let recorder: EventRecorder;
  let fx: KeystoreFixture;
  let ks: KeystoreService;
  let port: KeystoreCardKeyPort;
  const apdus: Exchange[] = [];
  const outputs: unknown[] = [];
  let cardId = Buffer.alloc(0);

  beforeAll(async () => {
    bed = await useTestbed(`keystore-${backend}`);
    service = new PcscReaderService({ timeoutMs: 5000 });
    recorder = new EventRecorder(service);
    service.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
    fx = createKeystoreFixture(backend);
    ks = await fx.open();
    ks.ceremony.begin({ components: 2, officer: 'sofia' });
    COMPONENTS.forEach((c, i) => ks.ceremony.enterComponent(i + 1, c.toString('hex'), { custodian: custodian(i + 1) }));
    await ks.ceremony.finish({ expectedKcv: kcvAes(MK) });
    await ks.createBankCa({ commonName: 'Test Bank CA', officer: 'sofia' });
    await ks.createIssuerKey({ commonName: 'Test Issuer', officer: 'sofia' });
    // Development stock's well-known vendor key, passed in by the test: core never imports the card simulator.
    await ks.importTransportMasterKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, {
      officer: 'sofia',
      approver: 'omar',
      reason: 'development card stock',
    });
    port = new KeystoreCardKeyPort(recordingKeystore(ks, outputs));
  });

  afterAll(async () => {
    await service?.stop();
    await bed?.close();
    await ks?.close();
    fx?.dispose();
  });

  it('personalises, activates with K from the mailer, pushes a list, reads state under SM and rotates K', async () => {
    const store = new CardStore(bed.cardDir);
    const [blank] = store.create(1);
    if (!blank) throw new Error('no card');
    cardId = Buffer.from(blank.cardId, 'hex');
    await bed.insert(store.pathOf(blank.cardId), 0);
    await recorder.waitFor(() => service.snapshot().readers[0]?.condition === 'ready', 'card ready');

    await service.withCard(bed.readerName(0), async (raw) => {
      const host = new OtacCard(recordingTransport(raw, apdus));
      await host.select();
      const cardKey = await port.cardKey(N);
      const transportKey = await port.transportKey(cardId);
      const blankSession = await host.openSecureChannel(port, transportKey, 0);
      const caPublicKey = (await ks.caPublicKey()).uncompressedPoint;
      await blankSession.personalise({ n: N, cardKey, keyVersion: 1, caPublicKey, pinTries: 3, activationTries: 5 });
      await port.release(transportKey);

      // The cardholder types K from the mailer: the one sanctioned clear exit, audited.
      const mailer = await ks.formatCustomerKeyForMailer(N, {
        operator: 'mia',
        role: 'manager',
        reason: 'initial mailer',
      });
      const typed = parseMailerKey(mailer.formatted);
      if (!typed.ok) throw new Error('mailer key does not parse');
      await host.activate(typed.key, PIN);

      const issuerKey = await port.issuerKey();
      const spec = {
        cardId,
        listSeq: 1,
        listId: randomBytes(16),
        expiry: 1_900_000_000,
        threshold: 5,
        length: 40,
        digits: 6,
      };
      const list = await prepareList(port, issuerKey, spec, { mode: 'card-key', cardKey, keyVersion: 1 });
      await verifyListReceipt(port, list, await host.loadList(list.envelope));
      await host.verifyPin(PIN);
      const first = await host.nextCode();
      expect(first.index).toBe(1);
      // The card's code 1 is the keystore's code 1 (drawn inside it, never seen by this test until the card showed it).
      const mkVersion = (await ks.status()).masterKey?.version ?? 0;
      const ref = { ...spec, mkVersion, sealedFor: `card:${N}` };
      expect(await ks.checkListCode(ref, 1, first.code)).toBe(true);
      expect(await ks.checkListCode(ref, 2, first.code)).toBe(false);
      expect(await ks.checkListCode({ ...ref, sealedFor: 'card:N-OTHER' }, 1, first.code)).toBe(false);
      const state = await (await host.openSecureChannel(port, cardKey, 1)).readState();
      expect(state).toMatchObject({
        lifeCycle: 'active',
        n: N,
        keyVersion: 1,
        list: { listSeq: 1, entries: 40, remaining: 39 },
        counters: { codesIssued: 1 },
      });

      // Rotation: K' goes to the card under SM (assembled inside the keystore), then becomes current.
      const rotation = await ks.prepareCardKeyRotation(N, { operator: 'sam', role: 'support' });
      const nextKey = port.cardKeyOf(rotation.next);
      await (await host.openSecureChannel(port, cardKey, 1)).rotateKey(nextKey, rotation.next.sn);
      await ks.confirmCardKeyRotation(N, rotation.next.sn);

      await expect(host.openSecureChannel(port, cardKey, 1)).rejects.toMatchObject({ sw: 0x6a88 }); // the card: unknown key version
      await expect(port.openSession(cardKey, randomBytes(16), randomBytes(16))).rejects.toMatchObject({
        code: 'CARD_KEY_RETIRED',
      }); // the keystore
      const rotated = await (await host.openSecureChannel(port, nextKey, 2)).readState();
      expect(rotated).toMatchObject({ lifeCycle: 'active', keyVersion: 2, list: { listSeq: 1 } });

      const list2 = await prepareList(
        port,
        issuerKey,
        { ...spec, listSeq: 2, listId: randomBytes(16) },
        { mode: 'card-key', cardKey: nextKey, keyVersion: 2 },
      );
      await verifyListReceipt(port, list2, await host.loadList(list2.envelope));
      // Public-key mode: the card's own RSA key (R-MACed under K'), a fresh P wrapped for it.
      const cardPublicKey = await (await host.openSecureChannel(port, nextKey, 2)).generateKeyPair();
      const list3 = await prepareList(
        port,
        issuerKey,
        { ...spec, listSeq: 3, listId: randomBytes(16) },
        { mode: 'public-key', cardPublicKey },
      );
      await verifyListReceipt(port, list3, await host.loadList(list3.envelope));
      await port.release(list3.receiptKey);
      const challenge = randomBytes(16);
      const response = await host.challengeWithCardKey(challenge);
      const message = Buffer.concat([Buffer.from([0x02]), cardId, challenge]);
      expect(await port.verifyChallengeResponse(nextKey, cardId, message, response)).toBe(true);
      await expect(
        port.verifyChallengeResponse(nextKey, cardId, Buffer.concat([message, Buffer.from([0])]), response),
      ).resolves.toBe(false);
    });
    expect(fx.audit.map((a) => a.action)).toEqual(
      expect.arrayContaining([
        'keystore.card_key.personalised',
        'keystore.card_key.rotation_sent',
        'keystore.mailer.customer_key_formatted',
      ]),
    );
  });

  describe('secret scan', () => {
    const secrets: { name: string; value: Buffer }[] = [];
    const isActivate = (e: Exchange) => e.command[1] === INS.ACTIVATE;

    beforeAll(async () => {
      const kt = deriveTransportKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, cardId);
      secrets.push(
        { name: 'MK', value: MK },
        { name: 'K', value: K(1) },
        { name: "K'", value: K(2) },
        { name: 'KT', value: kt },
      );
      secrets.push({ name: 'VTMK', value: DEV_VENDOR_TRANSPORT_MASTER_KEY });
      // Session keys of every OPEN SESSION, from the challenges on the wire.
      const base = [kt, K(1), K(2)];
      for (const [i, e] of apdus.entries()) {
        const c = decodeCommand(e.command);
        if (c.ins !== INS.OPEN_SESSION || e.response.length < 34) continue;
        const s = deriveSessionKeys(base[c.p1] ?? Buffer.alloc(16), c.data, e.response.subarray(0, 16));
        secrets.push(
          { name: `S-ENC #${i}`, value: s.enc },
          { name: `S-MAC #${i}`, value: s.mac },
          { name: `S-RMAC #${i}`, value: s.rmac },
        );
      }
      for (const [sn, seq] of [
        [1, 1],
        [2, 2],
      ] as const) {
        const e = envelopeKeysFromCardKey(K(sn), cardId, seq);
        secrets.push({ name: `E-ENC ${seq}`, value: e.enc }, { name: `E-MAC ${seq}`, value: e.mac });
        secrets.push({ name: `receipt key ${seq}`, value: deriveReceiptKey(K(sn), cardId, seq) });
      }
      secrets.push({ name: 'challenge key', value: deriveChallengeKey(K(2), cardId) });
      if (backend === 'software') {
        // The issuer key S (and the CA) are only reachable by decrypting the keystore file.
        const decoded = await decodeKeystoreFile(
          readFileSync(fx.keystoreFile),
          new PassphraseKekProvider(PASSPHRASE, TEST_COST),
        );
        const payload = JSON.parse(decoded.payload.toString('utf8')) as { keys: { type: string; value: string }[] };
        for (const k of payload.keys.filter((x) => x.type === 'ec')) {
          const der = Buffer.from(k.value, 'base64');
          const d = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d ?? '';
          secrets.push(
            { name: 'EC private (pkcs8)', value: der },
            { name: 'EC private scalar', value: Buffer.from(d, 'base64url') },
          );
        }
      }
    });

    const leaks = (haystack: string) =>
      secrets.filter((s) => encodings(s.value).some((e) => haystack.includes(e))).map((s) => s.name);

    it('knows what it is looking for, and saw the whole flow', () => {
      // Sessions: blank card, state, rotation, state and key pair under K' (the refused old key got no challenge).
      expect(secrets.filter((s) => s.name.startsWith('S-ENC'))).toHaveLength(5);
      expect(secrets.every((s) => s.value.length >= 16)).toBe(true);
      expect(apdus.filter(isActivate)).toHaveLength(1);
      expect(outputs.length).toBeGreaterThan(20);
    });

    it.each([
      ['APDUs both ways (but ACTIVATE)', () => haystack(apdus.filter((e) => !isActivate(e)))],
      ['keystore returns to the port', () => haystack(outputs)],
      ['audit trail', () => haystack(fx.audit)],
    ])('%s hold no key in clear', (_where, read) => {
      const text = read();
      expect(text.length).toBeGreaterThan(0);
      expect(leaks(text)).toEqual([]);
    });

    it('the ACTIVATE command carries K as the cardholder typed it, and only K (control: the scan finds it)', () => {
      expect(leaks(haystack(apdus.filter(isActivate)))).toEqual(['K']);
    });
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CardStore } from '../../../src/card-sim/card-store';
import type { CardTransport } from '../../../src/core/card/transport';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { verifyListReceipt } from '../../../src/core/card/protocol/list-preparation';
import { makeFixture, PIN } from '../../unit/card/support/in-process-card';
import { EventRecorder } from '../../support/event-recorder';
import { useTestbed, type Testbed } from '../../support/testbed';

// The same host protocol as the unit tests, now through pcsclite → pcscd → vpcd → card process,
// with the card persisted to its file between insertions like a card in a drawer.

/** Counts APDUs and the largest one, to prove lists travel in few, large exchanges. */
function counting(t: CardTransport) {
  const stats = { apdus: 0, largest: 0 };
  return {
    stats,
    transport: {
      async transmit(c: Buffer): Promise<Buffer> {
        stats.apdus++;
        stats.largest = Math.max(stats.largest, c.length);
        return t.transmit(c);
      },
    },
  };
}

describe('OTAC protocol over pcscd + vpcd', () => {
  let bed: Testbed;
  let service: PcscReaderService;
  let recorder: EventRecorder;

  beforeAll(async () => {
    bed = await useTestbed('protocol');
    service = new PcscReaderService({ timeoutMs: 5000 });
    recorder = new EventRecorder(service);
    service.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
  });

  afterEach(async () => {
    await bed.remove(0);
  });

  afterAll(async () => {
    await service?.stop();
    await bed?.close();
  });

  async function insert(file: string): Promise<string> {
    await bed.insert(file, 0);
    const reader = bed.readerName(0);
    await recorder.waitFor(() => service.snapshot().readers[0]?.condition === 'ready', 'card ready');
    return reader;
  }

  it('enrolls, activates, pushes a list in one extended APDU, and the card keeps it in the drawer', async () => {
    const store = new CardStore(bed.cardDir);
    const [blank] = store.create(1);
    if (!blank) throw new Error('no card');
    const fx = makeFixture(blank); // keys and list helpers; its in-process card is not used here
    const file = store.pathOf(blank.cardId);
    const reader = await insert(file);
    const list = await fx.prepare(1, 200);

    const receipt = await service.withCard(reader, async (transport) => {
      const host = new OtacCard(transport);
      await host.select();
      const sc = await host.openSecureChannel(fx.port, fx.transportKey, 0);
      await sc.personalise({
        n: 'N-4711-0815',
        cardKey: fx.cardKey,
        keyVersion: 1,
        caPublicKey: fx.caPoint,
        pinTries: 3,
        activationTries: 5,
      });
      await host.activate(fx.kBytes, PIN);
      const counted = counting(transport);
      const pushing = new OtacCard(counted.transport);
      await pushing.select();
      const r = await pushing.loadList(list.envelope);
      // SELECT + one STAGE (extended) + COMMIT.
      expect(counted.stats.apdus).toBe(3);
      expect(counted.stats.largest).toBeGreaterThan(list.envelope.length);
      await host.verifyPin(PIN);
      expect((await host.nextCode()).index).toBe(1);
      return r;
    });
    await verifyListReceipt(fx.port, list, receipt);

    await bed.remove(0);
    expect(store.loadFile(file)).toMatchObject({ lifeCycle: 'active', list: { listSeq: 1 } });
    const again = await insert(file);
    const state = await service.withCard(again, async (transport) => {
      const host = new OtacCard(transport);
      await host.select();
      return (await host.openSecureChannel(fx.port, fx.cardKey, 1)).readState();
    });
    expect(state).toMatchObject({
      lifeCycle: 'active',
      list: { entries: 200, remaining: 199 },
      counters: { codesIssued: 1 },
    });
  });

  it('works over short APDUs only: command chaining in, 61xx GET RESPONSE out', async () => {
    const store = new CardStore(bed.cardDir);
    const [blank] = store.create(1);
    if (!blank) throw new Error('no card');
    const fx = makeFixture(blank);
    const reader = await insert(store.pathOf(blank.cardId));
    const list = await fx.prepare(1, 120);
    await service.withCard(reader, async (transport) => {
      const counted = counting(transport);
      const host = new OtacCard(counted.transport, { readerExtendedLength: false });
      await host.select();
      const sc = await host.openSecureChannel(fx.port, fx.transportKey, 0);
      await sc.personalise({
        n: 'N-0000-0001',
        cardKey: fx.cardKey,
        keyVersion: 1,
        caPublicKey: fx.caPoint,
        pinTries: 3,
        activationTries: 5,
      });
      await host.activate(fx.kBytes, PIN);
      await verifyListReceipt(fx.port, list, await host.loadList(list.envelope));
      expect(counted.stats.largest).toBeLessThanOrEqual(5 + 255 + 1);
      const sc2 = await host.openSecureChannel(fx.port, fx.cardKey, 1);
      const pub = await sc2.generateKeyPair(); // 275-byte SM response: needs GET RESPONSE on a short link
      expect(pub.modulus.length).toBe(256);
      const challenge = randomBytes(16);
      expect((await host.challengeWithCardKey(challenge)).length).toBe(16);
    });
  });
});

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testbedUp } from '../scripts/testbed/testbed-control';
import { CardStore } from '../src/card-sim/card-store';
import { newBlankCard } from '../src/card-sim/card-record';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../src/card-sim/dev-transport-key';
import { insertCard, insertedCards, removeCard } from '../src/card-sim/slots';
import { vpcdReaderName } from '../src/card-sim/testbed-paths';
import { OtacCard } from '../src/core/card/protocol/card-session';
import { ecPublicPoint } from '../src/core/card/protocol/ec-keys';
import { prepareList } from '../src/core/card/protocol/list-preparation';
import { MAX_LIST_ENTRIES } from '../src/core/card/protocol/profile.constants';
import { deriveTransportKey } from '../src/core/card/protocol/sm-crypto';
import { certifyIssuerKey, RawCardKeyPort } from '../src/core/card/raw-card-key-port';
import { PcscReaderService } from '../src/core/card/reader.service';
import type { CardTransport } from '../src/core/card/transport';
import type { CardReaderService } from '../src/core/card/reader.types';
import { TRAINING_READER_NAME, TrainingReaderService } from '../src/core/card/training-reader';
import { VirtualCard } from '../src/card-sim/virtual-card';

// The card link through the real stack (pcsclite → pcscd → vpcd → VirtualCard process):
// latency and rate of small APDUs, and for a full list push (personalise, activate, STAGE
// LIST chunks + COMMIT of a 1000-code list) the APDU bytes both ways per envelope byte, with
// extended-length APDUs and with short ones. Set OTAC_BENCH_NO_SHIM_BASELINE=1 to also time
// APDUs on a pcscd without the TCP_NODELAY shim: that restarts the machine's one pcscd twice.
// About 4 s (7 s with the baseline).

type Report = (name: string, value: number, unit: string) => void;
const GET_STATE = Buffer.from('80CA000000', 'hex');
const SELECT = Buffer.from('00A4040007F04F544143000100', 'hex');

/** Counts APDU bytes on both ways; the 2-byte vpcd frame headers are not APDU bytes. */
class CountingTransport implements CardTransport {
  sent = 0;
  received = 0;
  exchanges = 0;
  constructor(private readonly inner: CardTransport) {}
  async transmit(command: Buffer): Promise<Buffer> {
    const response = await this.inner.transmit(command);
    this.exchanges += 1;
    this.sent += command.length;
    this.received += response.length;
    return response;
  }
}

async function apduRate(
  service: CardReaderService,
  reader: string,
  ms: number,
): Promise<{ perApdu: number; perSecond: number }> {
  return service.withCard(reader, async (t) => {
    await t.transmit(SELECT);
    for (let i = 0; i < 20; i++) await t.transmit(GET_STATE); // warm-up
    let n = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(ms) * 1_000_000n;
    let now = start;
    while (now < end) {
      await t.transmit(GET_STATE);
      n += 1;
      now = process.hrtime.bigint();
    }
    const elapsedMs = Number(now - start) / 1e6;
    return { perApdu: elapsedMs / n, perSecond: (n * 1000) / elapsedMs };
  });
}

/** Personalises and activates the card, then pushes two lists (extended, then short APDUs). */
async function listPush(service: PcscReaderService, reader: string, cardId: Buffer, report: Report): Promise<void> {
  const port = new RawCardKeyPort();
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuerKey = port.importIssuerKey(
    issuer.privateKey,
    certifyIssuerKey(ca.privateKey, ecPublicPoint(issuer.publicKey)),
  );
  const kBytes = randomBytes(16);
  const cardKey = port.importAesKey(kBytes);
  const transportKey = port.importAesKey(deriveTransportKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, cardId));
  const prepare = (listSeq: number) =>
    prepareList(
      port,
      issuerKey,
      {
        cardId,
        listSeq,
        listId: randomBytes(16),
        expiry: 1_900_000_000,
        threshold: 50,
        length: MAX_LIST_ENTRIES,
        digits: 6,
      },
      { mode: 'card-key', cardKey, keyVersion: 1 },
    );

  await service.withCard(reader, async (t) => {
    const host = new OtacCard(t);
    await host.select();
    const sc = await host.openSecureChannel(port, transportKey, 0);
    await sc.personalise({
      n: 'N-BENCH-0001',
      cardKey,
      keyVersion: 1,
      caPublicKey: ecPublicPoint(ca.publicKey),
      pinTries: 3,
      activationTries: 5,
    });
    await host.activate(kBytes, '2468');
  });

  for (const [form, seq, readerExtendedLength] of [
    ['extended', 1, true],
    ['short', 2, false],
  ] as const) {
    const list = await prepare(seq);
    const counted = await service.withCard(reader, async (t) => {
      const counting = new CountingTransport(t);
      const host = new OtacCard(counting, { readerExtendedLength });
      await host.select();
      const before = { sent: counting.sent, received: counting.received, exchanges: counting.exchanges };
      const began = process.hrtime.bigint();
      await host.loadList(list.envelope);
      const ms = Number(process.hrtime.bigint() - began) / 1e6;
      return {
        ms,
        sent: counting.sent - before.sent,
        received: counting.received - before.received,
        exchanges: counting.exchanges - before.exchanges,
      };
    });
    const wire = counted.sent + counted.received;
    report(`card.list_push.${form}.envelope_bytes`, list.envelope.length, 'bytes');
    report(`card.list_push.${form}.apdus`, counted.exchanges, 'APDUs');
    report(`card.list_push.${form}.wire_per_payload`, round(wire / list.envelope.length, 4), 'ratio');
    report(`card.list_push.${form}.time`, round(counted.ms, 2), 'ms');
  }
}

export async function run(report: Report): Promise<void> {
  await testbedUp();
  const taken = new Set(insertedCards().map((c) => c.slot));
  const slot = [0, 1].find((s) => !taken.has(s));
  if (slot === undefined)
    throw new Error(
      'both vpcd slots hold cards; remove one (npm run card -- remove --slot N) to run the card benchmark',
    );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otac-card-bench-'));
  const store = new CardStore(dir);
  const record = newBlankCard();
  store.save(record);
  const reader = vpcdReaderName(slot);
  const service = new PcscReaderService({ timeoutMs: 5000 });
  const whenReady = async (): Promise<void> => {
    for (let i = 0; i < 500 && service.snapshot().readers.find((r) => r.name === reader)?.condition !== 'ready'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  try {
    await insertCard(store.pathOf(record.cardId), slot);
    service.start();
    await whenReady();

    const fast = await apduRate(service, reader, 1500);
    report('card.apdu.latency', round(fast.perApdu, 4), 'ms/APDU');
    report('card.apdu.rate', Math.round(fast.perSecond), 'APDUs/s');

    // Baseline in the same run: the same card and APDU in-process (training reader), so the
    // ratio is what the PC/SC stack (pcsclite, pcscd, vpcd, TCP) costs per APDU.
    const training = new TrainingReaderService();
    training.start();
    training.insert(new VirtualCard(record));
    const direct = await apduRate(training, TRAINING_READER_NAME, 500);
    await training.stop();
    report('card.apdu.in_process.latency', round(direct.perApdu, 4), 'ms/APDU');
    report('card.apdu.pcsc_overhead_vs_in_process', round(fast.perApdu / direct.perApdu, 1), 'x');

    await listPush(service, reader, Buffer.from(record.cardId, 'hex'), report);

    if (process.env.OTAC_BENCH_NO_SHIM_BASELINE === '1') {
      await testbedUp(undefined, { shim: false });
      await whenReady();
      const slow = await apduRate(service, reader, 1000);
      report('card.apdu.latency_without_shim', round(slow.perApdu, 3), 'ms/APDU');
      report('card.apdu.shim_speedup', round(slow.perApdu / fast.perApdu, 1), 'x');
    }
  } finally {
    await testbedUp(); // always leave the shared pcscd running, with the shim
    await service.stop();
    await removeCard(slot);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

if (require.main === module) {
  const began = Date.now();
  run((name, value, unit) => console.log(`${name} ${value} ${unit}`)).then(
    () => {
      console.error(`card bench: ${Date.now() - began} ms`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

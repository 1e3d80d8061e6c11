import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { CardTransport } from '../../../../src/core/card/transport';
import { RawCardKeyPort, certifyIssuerKey } from '../../../../src/core/card/raw-card-key-port';
import { ecPublicPoint } from '../../../../src/core/card/protocol/ec-keys';
import { deriveTransportKey } from '../../../../src/core/card/protocol/sm-crypto';
import { OtacCard } from '../../../../src/core/card/protocol/card-session';
import { prepareList, type ListSealMode } from '../../../../src/core/card/protocol/list-preparation';
import type { ListEntry } from '../../../../src/core/card/protocol/list-format';
import { newBlankCard, type CardRecord } from '../../../../src/card-sim/card-record';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../../src/card-sim/dev-transport-key';
import { VirtualCard } from '../../../../src/card-sim/virtual-card';

/** A CardTransport that hands APDUs straight to a CardSide in this process, recording them. */
export class InProcessTransport implements CardTransport {
  readonly sent: Buffer[] = [];
  /** Optional hook to tamper with, drop or observe traffic. */
  intercept: ((command: Buffer, forward: (c: Buffer) => Buffer) => Buffer) | undefined;

  constructor(public card: VirtualCard) {}

  async transmit(command: Buffer): Promise<Buffer> {
    this.sent.push(Buffer.from(command));
    const forward = (c: Buffer): Buffer => this.card.process(c);
    return this.intercept ? this.intercept(command, forward) : forward(command);
  }
}

export const PIN = '2468';

export function entries(count: number, codeLength = 6, first = 1): ListEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: first + i,
    code: String(100000 + ((i * 7919 + first * 31) % 900000))
      .padStart(codeLength, '0')
      .slice(-codeLength),
  }));
}

/** A blank virtual card, its host session, a raw key port with CA/issuer/card keys. */
export function makeFixture(record: CardRecord = newBlankCard()) {
  let saved: CardRecord = record;
  const card = new VirtualCard(record, { persist: (r) => (saved = r) });
  card.powerOn();
  const transport = new InProcessTransport(card);
  const port = new RawCardKeyPort();
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuerKey = port.importIssuerKey(
    issuer.privateKey,
    certifyIssuerKey(ca.privateKey, ecPublicPoint(issuer.publicKey)),
  );
  const cardId = Buffer.from(record.cardId, 'hex');
  const kBytes = randomBytes(16);
  const cardKey = port.importAesKey(kBytes);
  const transportKey = port.importAesKey(deriveTransportKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, cardId));
  const host = new OtacCard(transport);
  const caPoint = ecPublicPoint(ca.publicKey);

  const fx = {
    card,
    transport,
    port,
    host,
    issuerKey,
    cardKey,
    kBytes,
    cardId,
    caPoint,
    transportKey,
    ca,
    issuer,
    saved: () => saved,
    async personalise(): Promise<void> {
      await host.select();
      const sc = await host.openSecureChannel(port, transportKey, 0);
      await sc.personalise({
        n: 'N-4711-0815',
        cardKey,
        keyVersion: 1,
        caPublicKey: caPoint,
        pinTries: 3,
        activationTries: 5,
      });
    },
    async activate(): Promise<void> {
      await fx.personalise();
      await host.activate(kBytes, PIN);
    },
    /** A list made by the port (codes drawn inside it), with the codes the test may compare against. */
    async prepare(listSeq: number, count = 20, seal?: ListSealMode, threshold = 5) {
      const spec = {
        cardId,
        listSeq,
        listId: randomBytes(16),
        expiry: 1_900_000_000,
        threshold,
        length: count,
        digits: 6,
      };
      const list = await prepareList(port, issuerKey, spec, seal ?? { mode: 'card-key', cardKey, keyVersion: 1 });
      return { ...list, codes: port.codesOf(spec) };
    },
  };
  return fx;
}

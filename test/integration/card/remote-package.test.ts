import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardStore } from '../../../src/card-sim/card-store';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../src/card-sim/dev-transport-key';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { prepareList, verifyListReceipt, type PreparedList } from '../../../src/core/card/protocol/list-preparation';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import { parseReceiptText } from '../../../src/core/push/package-loader';
import { splitPackage } from '../../../src/core/push/sms-package';
import { EventRecorder } from '../../support/event-recorder';
import { useTestbed, type Testbed } from '../../support/testbed';
import { PIN } from '../../unit/card/support/in-process-card';
import { createKeystoreFixture, openIssuerKeystore, type KeystoreFixture } from '../keystore/keystore.fixture';

// A remote refill package (docs/remote-refill.md): the sealed envelope as text messages, shuffled,
// one repeated, fed to `npm run load-package` — a separate process with no key — which loads it
// into the virtual card through pcscd. The receipt it prints verifies at the issuer.

const run = promisify(execFile);
const COMPONENTS = ['71'.repeat(16) + '0c'.repeat(16), 'e8'.repeat(8) + '33'.repeat(24)].map((h) =>
  Buffer.from(h, 'hex'),
);
const N = 'N-2026-1202';

describe('a remote refill package loads into a card through pcscd with nothing but its messages', () => {
  let bed: Testbed;
  let service: PcscReaderService;
  let recorder: EventRecorder;
  let fx: KeystoreFixture;
  let ks: KeystoreService;
  let port: KeystoreCardKeyPort;
  let dir: string;
  let cardId: Buffer;

  const loader = (file: string) =>
    run('npx', ['tsx', 'scripts/load-package.ts', file, '--reader', bed.readerName(0)], { timeout: 60_000 }).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? -1,
        out: e.stdout ?? '',
        err: e.stderr ?? '',
      }),
    );
  const withHost = <T>(fn: (host: OtacCard) => Promise<T>) =>
    service.withCard(bed.readerName(0), async (raw) => {
      const host = new OtacCard(raw);
      await host.select();
      return fn(host);
    });
  const seal = async (listSeq: number): Promise<PreparedList> =>
    prepareList(
      port,
      await port.issuerKey(),
      {
        cardId,
        listSeq,
        listId: randomBytes(16),
        expiry: 1_900_000_000,
        threshold: 5,
        length: 100,
        digits: 6,
      },
      { mode: 'card-key', cardKey: await port.cardKey(N), keyVersion: 1 },
    );
  const writeMessages = (name: string, lines: string[]) => {
    const file = join(dir, name);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otac-package-'));
    bed = await useTestbed('remote-package');
    service = new PcscReaderService({ timeoutMs: 5000 });
    recorder = new EventRecorder(service);
    service.start();
    fx = createKeystoreFixture('software');
    ks = await openIssuerKeystore(fx, COMPONENTS, 'Remote');
    await ks.importTransportMasterKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, {
      officer: 'sofia',
      approver: 'omar',
      reason: 'development card stock',
    });
    port = new KeystoreCardKeyPort(ks);
    const store = new CardStore(bed.cardDir);
    const [blank] = store.create(1);
    if (!blank) throw new Error('no card');
    cardId = Buffer.from(blank.cardId, 'hex');
    await bed.insert(store.pathOf(blank.cardId), 0);
    await recorder.waitFor(() => service.snapshot().readers[0]?.condition === 'ready', 'card ready');
    // Personalised and activated at the desk; from here on the card meets only the package.
    await withHost(async (host) => {
      const transportKey = await port.transportKey(cardId);
      const caPublicKey = (await ks.caPublicKey()).uncompressedPoint;
      const blankSession = await host.openSecureChannel(port, transportKey, 0);
      await blankSession.personalise({
        n: N,
        cardKey: await port.cardKey(N),
        keyVersion: 1,
        caPublicKey,
        pinTries: 3,
        activationTries: 5,
      });
      await port.release(transportKey);
      const mailer = await ks.formatCustomerKeyForMailer(N, { operator: 'mia', role: 'manager', reason: 'initial' });
      const typed = parseMailerKey(mailer.formatted);
      if (!typed.ok) throw new Error('mailer key does not parse');
      await host.activate(typed.key, PIN);
    });
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await bed?.close();
    await ks?.close();
    fx?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads from shuffled messages with one repeated, and the receipt verifies at the issuer', async () => {
    const list = await seal(1);
    const messages = splitPackage(list.envelope);
    expect(messages.length).toBeGreaterThan(3); // a 100-code list takes several messages
    const shuffled = [...messages].reverse();
    shuffled.splice(2, 0, messages[1]!);
    const r = await loader(writeMessages('list-1.txt', shuffled));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const line = r.out.split('\n').find((l) => l.startsWith('OTACR '));
    const { receipt } = parseReceiptText(line ?? '');
    await verifyListReceipt(port, list, receipt); // throws CARD_RECEIPT_INVALID unless the card committed exactly this list

    const state = await withHost(async (host) => {
      await host.verifyPin(PIN);
      const first = await host.nextCode();
      return { first, list: (await host.getReceipt()).listSeq };
    });
    expect(state).toEqual({ first: expect.objectContaining({ index: 1 }) as unknown, list: 1 });

    // Run again (as after a lost answer): the card holds it already; the same receipt comes back.
    const again = await loader(writeMessages('list-1-again.txt', messages));
    expect(again.code).toBe(0);
    expect(again.out).toContain('the card already held this list');
    expect(again.out).toContain(line);
  });

  it('sends nothing to the card when a message is missing, altered or from another package', async () => {
    const list = await seal(2);
    const messages = splitPackage(list.envelope);
    const other = splitPackage((await seal(3)).envelope);
    const altered = messages[1]!.slice(0, -3) + (messages[1]!.at(-3) === 'A' ? 'B' : 'A') + messages[1]!.slice(-2);
    const cases: [string, string[], RegExp][] = [
      ['missing', messages.filter((_, i) => i !== 2), /PACKAGE_INCOMPLETE: Segments 3 of the package are missing/],
      ['altered', [messages[0]!, altered, ...messages.slice(2)], /PACKAGE_CORRUPT/],
      ['foreign', [...messages.slice(0, 2), other[2]!, ...messages.slice(3)], /PACKAGE_SEGMENT_FOREIGN/],
    ];
    for (const [name, lines, error] of cases) {
      const r = await loader(writeMessages(`${name}.txt`, lines));
      expect(r.code, name).toBe(1);
      expect(r.err, name).toMatch(error);
      expect(r.out, name).not.toContain('committed');
    }
    // The card still holds list 1: nothing reached it.
    expect(await withHost(async (host) => (await host.getReceipt()).listSeq)).toBe(1);
  });
});

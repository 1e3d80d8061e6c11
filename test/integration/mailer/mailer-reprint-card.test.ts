import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardStore } from '../../../src/card-sim/card-store';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../src/card-sim/dev-transport-key';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import { MAILER_ALPHABET, parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import { EventRecorder } from '../../support/event-recorder';
import { freshWorkstation } from '../../support/fresh-workstation';
import { keystoreWithMasterKey } from '../../support/keys';
import { cardAwaitingActivation, pdfText, testMailer } from '../../support/mailer';
import { addOperator, approvalFor, setupOfficer, value } from '../../support/operators';
import { useTestbed, type Testbed } from '../../support/testbed';
import { PIN } from '../../unit/card/support/in-process-card';
import { TEST_COST } from '../keystore/keystore.fixture';

// docs/mailer.md, "How the card learns the new key", on a real virtual card through pcscd: a card
// personalised with K, its mailer printed, then reprinted (K' of the next series on the new PDF).
// At its next presentation the card gets ROTATE KEY under K and the rotation is confirmed; from
// then on the old mailer's K is refused by the card (a try spent) and K' from the reprint activates.

const C = `[${MAILER_ALPHABET}]`;
const KEY_FORMAT = new RegExp(`${C}{5}(?:-${C}{5}){6}`);

describe('a reprinted mailer on a real card (pcscd + vpcd)', () => {
  let bed: Testbed;
  let service: PcscReaderService;
  let recorder: EventRecorder;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  const mailer = testMailer();

  beforeAll(async () => {
    bed = await useTestbed('mailer-reprint');
    service = new PcscReaderService({ timeoutMs: 5000 });
    recorder = new EventRecorder(service);
    service.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
    t = await freshWorkstation({ keystoreScryptCost: TEST_COST, mailer });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await bed?.close();
    await t?.dispose();
  });

  it('the card takes K′ at its next presentation; then the old mailer’s K fails on the card and K′ activates it', async () => {
    const { ws } = t;
    const officer = await setupOfficer(ws);
    await keystoreWithMasterKey(ws, officer, await addOperator(ws, 'security_officer'));
    const manager = await addOperator(ws, 'manager');
    const manager2 = await addOperator(ws, 'manager');
    const ks = ws.keystore.current();
    await ks.createBankCa({ commonName: 'Test Bank CA', officer: officer.username });
    await ks.importTransportMasterKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, {
      officer: officer.username,
      approver: 'omar',
      reason: 'development card stock',
    });
    const port = new KeystoreCardKeyPort(ks);

    const store = new CardStore(bed.cardDir);
    const [blank] = store.create(1);
    if (!blank) throw new Error('no card');
    await bed.insert(store.pathOf(blank.cardId), 0);
    await recorder.waitFor(() => service.snapshot().readers[0]?.condition === 'ready', 'card ready');
    const { card } = await cardAwaitingActivation(ws, { n: 'N-5150-7', cardId: blank.cardId.toUpperCase() });

    // Enrollment's PERSONALISE (another workflow; done here through the protocol layer) writes K of series 1.
    await service.withCard(bed.readerName(0), async (raw) => {
      const host = new OtacCard(raw);
      await host.select();
      const transportKey = await port.transportKey(Buffer.from(blank.cardId, 'hex'));
      await (
        await host.openSecureChannel(port, transportKey, 0)
      ).personalise({
        n: card.n,
        cardKey: await port.cardKey(card.n),
        keyVersion: 1,
        caPublicKey: (await ks.caPublicKey()).uncompressedPoint,
        pinTries: 3,
        activationTries: 5,
      });
      await port.release(transportKey);
    });

    value(
      await ws.router.dispatch(manager.client, 'mailer:print', {
        cardRef: card.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    value(
      await ws.router.dispatch(manager.client, 'mailer:reprint', {
        cardRef: card.id,
        reason: 'lost in the post',
        approval: await approvalFor(ws, manager, 'mailer.reprint', manager2),
      }),
    );
    const [oldMailer, newMailer] = mailer.printer.jobs.map((j) => parseMailerKey(pdfText(j.pdf).match(KEY_FORMAT)![0]));
    if (!oldMailer?.ok || !newMailer?.ok) throw new Error('the mailers do not carry parseable keys');

    await service.withCard(bed.readerName(0), async (raw) => {
      const host = new OtacCard(raw);
      await host.select();
      // The next presentation: a reprint's series is pending, so the rotation comes first.
      const state = await ks.cardKeyState(card.n);
      expect(state).toMatchObject({ sn: 1, pendingSn: 2 });
      const rotation = await ks.prepareCardKeyRotation(card.n, { operator: manager.username, role: 'manager' });
      expect(rotation.next.sn).toBe(2);
      const current = await port.cardKey(card.n);
      await (await host.openSecureChannel(port, current, 1)).rotateKey(port.cardKeyOf(rotation.next), 2);
      await ks.confirmCardKeyRotation(card.n, 2);
      await expect(ks.cardKey(card.n, 1)).rejects.toMatchObject({ code: 'CARD_KEY_RETIRED' });

      // The old mailer's K: refused by the card, one activation try spent.
      await expect(host.activate(oldMailer.key, PIN)).rejects.toMatchObject({ sw: 0x63c4 });
      // The reprint's K′ activates the card.
      await host.activate(newMailer.key, PIN);
      await host.verifyPin(PIN);
    });
  }, 120_000);
});

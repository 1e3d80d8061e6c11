import { createCipheriv } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../../src/card-sim/dev-transport-key';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import type { CardRepository } from '../../../src/core/cards/card.repository';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { RepositoryCustomerPicker } from '../../../src/core/enrollment/customer-picker.repository';
import { EnrollmentService } from '../../../src/core/enrollment/enrollment.service';
import { createLogger } from '../../../src/core/log';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { addCustomer, keystoreReadyToEnroll } from '../../support/enrollment';
import { EventRecorder } from '../../support/event-recorder';
import { addOperator, setupOfficer } from '../../support/operators';
import { createTestCard, readCard } from '../../support/test-cards';
import { TearingReader, type Exchange } from '../../support/tearing-reader';
import { useTestbed, type Testbed } from '../../support/testbed';

// The tear test of personalisation (issue 9, "Done when"): the card is taken out before each APDU
// of the enrollment flow, and — separately — the card dies after it processed each APDU but
// before its answer arrived (it committed, the host never heard). At every position the card
// (its own file) and the database must agree afterwards, and putting the same card back and
// retrying must finish the job with the same N and a K the mailer will print.
// Then the host's personalise APDUs, byte for byte, against docs/card-profile.md computed here
// independently (AES and CMAC from node:crypto, not the code under test).

const SLOT = 0;
const CLEAN_FLOW_APDUS = 4; // SELECT, GET STATE, OPEN SESSION (transport key), PERSONALISE

describe('personalisation torn at every APDU (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let ws: DeskWorkstation;
  let t: Awaited<ReturnType<typeof freshWorkstation>>;
  let pcsc: PcscReaderService;
  let recorder: EventRecorder;
  let tear: TearingReader;
  let log: Exchange[] = [];
  let service: EnrollmentService;
  let cards: CardRepository;
  const actor = { operatorId: 1, operator: 'clara', role: 'clerk' as const };

  const mailerKey = async (n: string): Promise<string> => {
    const m = await ws.keystore
      .current()
      .formatCustomerKeyForMailer(n, { operator: 'mia', role: 'manager', reason: 'tear test check' });
    const parsed = parseMailerKey(m.formatted);
    if (!parsed.ok) throw new Error('mailer key does not parse');
    return parsed.key.toString('hex');
  };

  beforeAll(async () => {
    bed = await useTestbed('enrollment-tear');
    t = await freshWorkstation({ readers: 'none', keystoreScryptCost: { N: 1024, r: 8, p: 1 } });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await keystoreReadyToEnroll(ws, officer, await addOperator(ws, 'security_officer'));
    pcsc = new PcscReaderService({ timeoutMs: 3000 });
    recorder = new EventRecorder(pcsc);
    pcsc.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
    tear = new TearingReader(pcsc, bed, SLOT, (e) => log.push(e));
    cards = t.sql.repos.cards;
    service = new EnrollmentService({
      cards,
      customers: new RepositoryCustomerPicker(t.sql.repos.customers, cards),
      readers: tear.readers,
      keystore: ws.keystore,
      audit: t.sql.audit,
      atomically: t.sql.repos.atomically,
      log: createLogger(null),
      retries: () => ({ pinTries: 3, activationTries: 5 }),
    });
  }, 60_000);

  afterEach(async () => {
    tear.cut = null;
    await bed.remove(SLOT);
  });

  afterAll(async () => {
    await pcsc?.stop();
    await t?.dispose();
    await bed?.close();
  });

  it('a clean enrollment takes exactly the profile personalise flow, byte for byte (profile 3, 6, 9.1)', async () => {
    const customer = await addCustomer(ws, 'Byte Genau');
    const card = createTestCard(bed.cardDir);
    await tear.put(card.file, false);
    log = [];
    const r = await service.enroll({ customerId: customer.id, reader: tear.readerName }, actor);
    expect(log).toHaveLength(CLEAN_FLOW_APDUS);
    const [select, getState, open, personalise] = log as [Exchange, Exchange, Exchange, Exchange];

    expect(select.command.toString('hex')).toBe('00a4040007f04f544143000100');
    expect(getState.command.toString('hex')).toBe('80ca000000');
    // OPEN SESSION with key version 00 (the transport key) and a 16-byte host challenge, Le 00.
    expect(open.command.subarray(0, 5).toString('hex')).toBe('8050000010');
    expect(open.command).toHaveLength(5 + 16 + 1);
    expect(open.command.at(-1)).toBe(0);
    const hc = open.command.subarray(5, 21);
    const cc = open.response.subarray(0, 16);

    // Profile 6.1/1.2: KT = KDF(VTMK, "OTAC transport", card id); 6.2: session keys from HC || CC.
    const cardId = Buffer.from(card.cardId, 'hex');
    const kt = kdf(DEV_VENDOR_TRANSPORT_MASTER_KEY, 'OTAC transport', cardId);
    const sEnc = kdf(kt, 'OTAC SM ENC', Buffer.concat([hc, cc]));
    const sMac = kdf(kt, 'OTAC SM MAC', Buffer.concat([hc, cc]));
    expect(open.response.subarray(16, 32)).toEqual(cmac(sMac, Buffer.concat([Buffer.from([1]), hc, cc])));

    // 9.1 plaintext, 6.3 wrapping with c = 1.
    const k = Buffer.from(await mailerKey(r.n), 'hex');
    const ca = (await ws.keystore.current().caPublicKey()).uncompressedPoint;
    const plain = Buffer.concat([
      Buffer.from([r.n.length]),
      Buffer.from(r.n, 'ascii'),
      k,
      Buffer.from([1]),
      ca,
      Buffer.from([3, 5]),
    ]);
    const c1 = Buffer.from([0, 0, 0, 1]);
    const icv = aesEcb(sEnc, Buffer.concat([Buffer.alloc(12), c1]));
    const e = aesCbc(sEnc, icv, pad(plain));
    const t = cmac(sMac, Buffer.concat([c1, Buffer.from('84e00000', 'hex'), e]));
    const data = Buffer.concat([e, t]);
    const expected = Buffer.concat([Buffer.from([0x84, 0xe0, 0x00, 0x00, data.length]), data, Buffer.from([0x00])]);
    expect(personalise.command.toString('hex')).toBe(expected.toString('hex'));
    expect(personalise.response.subarray(-2).toString('hex')).toBe('9000');
    expect(readCard(card)).toMatchObject({ lifeCycle: 'personalised', n: r.n, cardKey: k.toString('hex') });
    await tear.takeOut();
  }, 30_000);

  const positions = Array.from({ length: CLEAN_FLOW_APDUS }, (_, i) => i);
  const cases = [
    ...positions.map((at) => ({ at, how: 'pull' as const })),
    ...positions.map((at) => ({ at, how: 'die' as const })),
  ];

  it.each(cases)(
    'card $how at APDU $at: card and database agree, and the same card retried finishes the job',
    async (c) => {
      const customer = await addCustomer(ws, `Tear ${c.how} ${c.at}`);
      const card = createTestCard(bed.cardDir);
      const id = card.cardId.toUpperCase();
      await tear.put(card.file, c.how === 'die');
      tear.cut = c;
      const err = await service
        .enroll({ customerId: customer.id, reader: tear.readerName }, actor)
        .catch((x: unknown) => x);
      tear.cut = null;
      // Pulled between APDUs, pcscd may already report the reader empty (CARD_ABSENT).
      expect(['CARD_REMOVED', 'CARD_ABSENT', 'CARD_TIMEOUT', 'READER_ERROR']).toContain(
        (err as { code?: string }).code,
      );

      // Card and database agree.
      const onCard = readCard(card);
      const row = await cards.byCardId(id);
      if (onCard.lifeCycle === 'personalised') {
        expect(row).toMatchObject({ state: 'enrolling', n: onCard.n });
      } else {
        expect(onCard).toEqual(card.record); // untouched: still blank, transport key intact
        if (row) expect(row.state).toBe('enrolling');
      }
      // Which side of the commit each position lands on (a torn PERSONALISE is all or nothing).
      // The row is written between GET STATE (APDU 1) and OPEN SESSION (APDU 2).
      expect(row !== null).toBe(c.at >= 2);
      expect(onCard.lifeCycle).toBe(c.how === 'die' && c.at === 3 ? 'personalised' : 'blank');
      if (row) expect((err as Error).message).toMatch(/choose Retry/);

      // The same card back in; retry (or, with nothing bound yet, simply enroll again).
      await tear.takeOut();
      await tear.put(card.file, false);
      const done = row
        ? await service.retry({ reader: tear.readerName }, actor)
        : await service.enroll({ customerId: customer.id, reader: tear.readerName }, actor);
      expect(done.personalised).toBe(!(c.how === 'die' && c.at === 3));
      if (row) expect(done.n).toBe(row.n);

      const final = readCard(card);
      expect(final).toMatchObject({ lifeCycle: 'personalised', n: done.n });
      expect(final.cardKey).toBe(await mailerKey(done.n));
      expect(await cards.byCardId(id)).toMatchObject({ state: 'awaiting_activation', n: done.n });
      expect(await cards.listByCustomer(customer.id)).toHaveLength(1);
      await tear.takeOut();
    },
    40_000,
  );
});

// docs/card-profile.md 1.1, 1.2, 6.3 from node:crypto directly.
function aesEcb(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}
function aesCbc(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}
function shift(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = ((b[i]! << 1) | (i < 15 ? b[i + 1]! >> 7 : 0)) & 0xff;
  if (b[0]! & 0x80) out[15]! ^= 0x87;
  return out;
}
function cmac(key: Buffer, msg: Buffer): Buffer {
  const k1 = shift(aesEcb(key, Buffer.alloc(16)));
  const k2 = shift(k1);
  const complete = msg.length > 0 && msg.length % 16 === 0;
  const m = complete ? Buffer.from(msg) : pad(msg);
  const last = m.subarray(m.length - 16);
  const sub = complete ? k1 : k2;
  for (let i = 0; i < 16; i++) last[i]! ^= sub[i]!;
  return aesCbc(key, Buffer.alloc(16), m).subarray(-16);
}
function pad(b: Buffer): Buffer {
  const out = Buffer.alloc(b.length + (16 - (b.length % 16)));
  b.copy(out);
  out[b.length] = 0x80;
  return out;
}
function kdf(key: Buffer, label: string, context: Buffer): Buffer {
  return cmac(
    key,
    Buffer.concat([
      Buffer.from([0, 0, 0, 1]),
      Buffer.from(label, 'ascii'),
      Buffer.from([0]),
      context,
      Buffer.from([0, 0, 0, 128]),
    ]),
  );
}

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import { EventRecorder } from '../../support/event-recorder';
import {
  createActiveCard,
  GET_STATE,
  readCard,
  SELECT_APPLET,
  sw,
  verifyPin,
  type TestCard,
} from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';

// Faults a branch sees for real: a card pulled out between or during APDUs, a card that
// stops answering, pcscd dying. Each must end in a clear error, a service that still works,
// and a card file that still holds exactly its committed state.
const PIN = '2468';
const WRONG_PIN = '1357';

describe('reader service under faults (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let service: PcscReaderService;
  let recorder: EventRecorder;
  let reader0: string;
  let reader1: string;

  const ready = (reader: string): Promise<void> =>
    eventually(
      () => service.snapshot().readers.some((r) => r.name === reader && r.condition === 'ready'),
      `${reader} ready`,
    );

  /** The file parses and holds the original record except the PIN counters a test changed. */
  const expectIntact = (card: TestCard, pinTriesLeft: number, wrongPins = 0): void => {
    expect(readCard(card)).toEqual({ ...card.record, pinTriesLeft, counters: { ...card.record.counters, wrongPins } });
  };
  const empty = (reader: string): Promise<void> =>
    eventually(
      () => service.snapshot().readers.some((r) => r.name === reader && r.condition === 'empty'),
      `${reader} empty`,
    );

  beforeAll(async () => {
    bed = await useTestbed('card-faults');
    reader0 = bed.readerName(0);
    reader1 = bed.readerName(1);
    service = new PcscReaderService({ timeoutMs: 2000 });
    recorder = new EventRecorder(service);
    service.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
  });

  afterEach(async () => {
    await bed.remove(0);
    await bed.remove(1);
    // A fault test may have left pcscd down; the next test (and other files) need it.
    await bed.ensureUp();
    await eventually(() => service.snapshot().readers.length === 2, 'readers back');
  });

  afterAll(async () => {
    await service?.stop();
    await bed?.close();
  });

  it('card pulled out between two APDUs: CARD_REMOVED, card file unchanged', async () => {
    const card = createActiveCard(bed.cardDir, PIN);
    await bed.insert(card.file, 0);
    await ready(reader0);
    const err = await service
      .withCard(reader0, async (t) => {
        expect(sw(await t.transmit(SELECT_APPLET))).toBe(0x9000);
        await bed.remove(0);
        return t.transmit(GET_STATE);
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CARD_REMOVED' });
    expect((err as Error).message).toMatch(/Insert it again/);
    expectIntact(card, 5);
  });

  it('card dies after committing but before answering: CARD_REMOVED, the commit is whole', async () => {
    const card = createActiveCard(bed.cardDir, PIN);
    const inserted = await bed.insert(card.file, 0, { responseDelayMs: 400 });
    await ready(reader0);
    const err = await service
      .withCard(reader0, async (t) => {
        await t.transmit(SELECT_APPLET);
        // The card decrements its PIN counter, persists, then holds the answer back 400 ms.
        setTimeout(() => process.kill(inserted.pid, 'SIGKILL'), 150);
        return t.transmit(verifyPin(WRONG_PIN));
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CARD_REMOVED' });
    expectIntact(card, 4, 1);

    // Re-inserted (after pcscd saw the slot empty, as a person would), the card works and
    // its state is exactly what it committed.
    await bed.remove(0);
    await empty(reader0);
    await bed.insert(card.file, 0);
    await ready(reader0);
    const state = await service.withCard(reader0, async (t) => {
      await t.transmit(SELECT_APPLET);
      expect(sw(await t.transmit(verifyPin(PIN)))).toBe(0x9000);
      return t.transmit(GET_STATE);
    });
    expect(sw(state)).toBe(0x9000);
    expectIntact(card, 5, 1);
  });

  it('card dies with the command unread: CARD_REMOVED, nothing committed', async () => {
    const card = createActiveCard(bed.cardDir, PIN);
    const inserted = await bed.insert(card.file, 0);
    await ready(reader0);
    const err = await service
      .withCard(reader0, async (t) => {
        await t.transmit(SELECT_APPLET);
        // Stopped first, so the VERIFY sits unread in the socket when the card dies.
        process.kill(inserted.pid, 'SIGSTOP');
        setTimeout(() => process.kill(inserted.pid, 'SIGKILL'), 150);
        return t.transmit(verifyPin(WRONG_PIN));
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CARD_REMOVED' });
    expectIntact(card, 5);
  });

  it('hung card (SIGSTOP): CARD_TIMEOUT, refused at once afterwards, other reader unaffected, back after SIGCONT', async () => {
    const hungCard = createActiveCard(bed.cardDir, PIN);
    const otherCard = createActiveCard(bed.cardDir, PIN);
    const hung = await bed.insert(hungCard.file, 0);
    await bed.insert(otherCard.file, 1);
    await ready(reader0);
    await ready(reader1);

    const began = Date.now();
    const err = await service
      .withCard(
        reader0,
        async (t) => {
          await t.transmit(SELECT_APPLET);
          process.kill(hung.pid, 'SIGSTOP');
          return t.transmit(GET_STATE);
        },
        { timeoutMs: 600 },
      )
      .catch((e: unknown) => e);
    const waited = Date.now() - began;
    expect(err).toMatchObject({ code: 'CARD_TIMEOUT' });
    expect(waited).toBeGreaterThanOrEqual(550);
    expect(waited).toBeLessThan(2000);

    // The stuck reader is refused immediately instead of queueing behind the hung call.
    const refusedAt = Date.now();
    await expect(service.withCard(reader0, async () => 1)).rejects.toMatchObject({ code: 'CARD_TIMEOUT' });
    expect(Date.now() - refusedAt).toBeLessThan(100);
    expect(service.snapshot().readers.find((r) => r.name === reader0)?.condition).toBe('not-responding');

    // The other reader still works, and quickly.
    const otherAt = Date.now();
    const other = await service.withCard(reader1, async (t) => {
      await t.transmit(SELECT_APPLET);
      return t.transmit(GET_STATE);
    });
    expect(sw(other)).toBe(0x9000);
    expect(Date.now() - otherAt).toBeLessThan(1000);

    // Continued, the card answers the pending command; the reader is released and usable.
    process.kill(hung.pid, 'SIGCONT');
    await ready(reader0);
    const after = await service.withCard(reader0, async (t) => {
      await t.transmit(SELECT_APPLET);
      return t.transmit(GET_STATE);
    });
    expect(sw(after)).toBe(0x9000);
    expectIntact(hungCard, 5);
    expectIntact(otherCard, 5);
  });

  it('pcscd killed and restarted: the service recovers by itself within 3 s, the card comes back', async () => {
    const card = createActiveCard(bed.cardDir, PIN);
    await bed.insert(card.file, 0);
    await ready(reader0);

    const beforeKill = recorder.mark();
    await bed.killPcscd();
    await recorder.waitFor(
      (e) => e.type === 'service' && e.state !== 'running',
      'service leaving running',
      3000,
      beforeKill,
    );
    await expect(service.withCard(reader0, async () => 1)).rejects.toMatchObject({ code: 'PCSC_DOWN' });

    const beforeUp = recorder.mark();
    await bed.ensureUp();
    const upAt = Date.now();
    const running = await recorder.waitFor(
      (e) => e.type === 'service' && e.state === 'running',
      "'running' event",
      3000,
      beforeUp,
    );
    expect(running.at - upAt).toBeLessThanOrEqual(3000);

    // The card process reconnects to the new vpcd by itself.
    await recorder.waitFor(
      (e) => e.type === 'card-inserted' && e.reader === reader0,
      'card back in reader 0',
      5000,
      beforeUp,
    );
    const state = await service.withCard(reader0, async (t) => {
      await t.transmit(SELECT_APPLET);
      return t.transmit(GET_STATE);
    });
    expect(sw(state)).toBe(0x9000);
    expectIntact(card, 5);
  });

  it('pcscd killed during a session: PCSC_DOWN at once, not a hang and not a "card removed"', async () => {
    const card = createActiveCard(bed.cardDir, PIN);
    await bed.insert(card.file, 0, { responseDelayMs: 400 });
    await ready(reader0);
    const err = await service
      .withCard(reader0, async (t) => {
        await t.transmit(SELECT_APPLET);
        setTimeout(() => void bed.killPcscd(), 150);
        return t.transmit(GET_STATE);
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PCSC_DOWN' });
    expectIntact(card, 5);
  });
});

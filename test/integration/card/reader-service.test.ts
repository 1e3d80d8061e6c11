import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cardIdFromAtr } from '../../../src/card-sim/card-record';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import { EventRecorder } from '../../support/event-recorder';
import {
  cardIdFrom,
  cardInsertOptions,
  createTestCard,
  GET_CARD_ID,
  SELECT_APPLET,
  sw,
} from '../../support/test-cards';
import { useTestbed, type Testbed } from '../../support/testbed';

// Through the real stack: pcsclite → pcscd → vpcd → card process.
const run = promisify(execFile);
const SW_OK = Buffer.from('9000', 'hex');

describe('PcscReaderService through pcscd + vpcd', () => {
  let bed: Testbed;
  let service: PcscReaderService;
  let recorder: EventRecorder;
  let reader0: string;

  beforeAll(async () => {
    bed = await useTestbed('reader-service');
    reader0 = bed.readerName(0);
    service = new PcscReaderService({ timeoutMs: 2000 });
    recorder = new EventRecorder(service);
    service.start();
    await recorder.waitFor((e) => e.type === 'readers' && e.readers.length === 2, 'both vpcd readers');
  });

  afterEach(async () => {
    await bed.remove(0);
    await bed.remove(1);
  });

  afterAll(async () => {
    await service?.stop();
    await bed?.close();
  });

  it('shows both vpcd readers, empty, once running', () => {
    expect(service.snapshot()).toEqual({
      state: 'running',
      readers: [
        { name: 'Virtual PCD 00 00', cardPresent: false, condition: 'empty' },
        { name: 'Virtual PCD 00 01', cardPresent: false, condition: 'empty' },
      ],
    });
  });

  it('reports a card inserted (with its ATR) and removed', async () => {
    const card = createTestCard(bed.cardDir);
    const since = recorder.mark();
    await bed.insert(card.file, 0, cardInsertOptions);
    const inserted = await recorder.waitFor((e) => e.type === 'card-inserted', 'card-inserted', 5000, since);
    expect(inserted.event).toMatchObject({ type: 'card-inserted', reader: reader0 });
    const atr = inserted.event.type === 'card-inserted' ? inserted.event.atr : '';
    // The OTAC ATR carries the card id in its historical bytes.
    expect(cardIdFromAtr(Buffer.from(atr, 'hex'))?.toString('hex')).toBe(card.cardId);
    expect(service.snapshot().readers[0]).toEqual({ name: reader0, cardPresent: true, atr, condition: 'ready' });

    const beforeRemoval = recorder.mark();
    await bed.remove(0);
    await recorder.waitFor(
      (e) => e.type === 'card-removed' && e.reader === reader0,
      'card-removed',
      5000,
      beforeRemoval,
    );
    expect(service.snapshot().readers[0]).toMatchObject({ cardPresent: false, condition: 'empty' });
  });

  it('exchanges APDUs inside withCard and hands the session the ATR', async () => {
    const card = createTestCard(bed.cardDir);
    await bed.insert(card.file, 0, cardInsertOptions);
    await recorder.waitFor(() => service.snapshot().readers[0]?.condition === 'ready', 'card ready');
    const result = await service.withCard(reader0, async (transport, session) => {
      expect(session.atr.toString('hex').toUpperCase()).toBe(service.snapshot().readers[0]?.atr);
      expect(service.snapshot().readers[0]?.condition).toBe('in-use');
      expect(sw(await transport.transmit(SELECT_APPLET))).toBe(0x9000);
      return transport.transmit(GET_CARD_ID);
    });
    expect(result.subarray(-2)).toEqual(SW_OK);
    expect(cardIdFrom(result)).toBe(card.cardId);
  });

  it('holds the card exclusively: a second session and another PC/SC client are refused meanwhile', async () => {
    const card = createTestCard(bed.cardDir);
    await bed.insert(card.file, 0, cardInsertOptions);
    await recorder.waitFor(() => service.snapshot().readers[0]?.condition === 'ready', 'card ready');
    await service.withCard(reader0, async (transport) => {
      await transport.transmit(SELECT_APPLET);
      await expect(service.withCard(reader0, async () => 1)).rejects.toMatchObject({ code: 'CARD_BUSY' });
      const other = await run('scriptor', ['-r', reader0], { timeout: 10_000 }).then(
        (r) => `${r.stdout}${r.stderr}`,
        (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
      expect(other).toMatch(/sharing violation|SCardConnect/i);
    });
  });

  it('leaves the card selected after a successful session and resets it after a failed one', async () => {
    const card = createTestCard(bed.cardDir);
    await bed.insert(card.file, 0, cardInsertOptions);
    await recorder.waitFor(() => service.snapshot().readers[0]?.condition === 'ready', 'card ready');
    await service.withCard(reader0, async (t) => t.transmit(SELECT_APPLET));
    const afterLeave = await service.withCard(reader0, async (t) => t.transmit(GET_CARD_ID));
    expect(afterLeave.subarray(-2)).toEqual(SW_OK);

    await expect(
      service.withCard(reader0, async (t) => {
        await t.transmit(SELECT_APPLET);
        throw new Error('workflow failed half way');
      }),
    ).rejects.toThrow('workflow failed half way');
    const afterReset = await service.withCard(reader0, async (t) => t.transmit(GET_CARD_ID));
    expect(afterReset.subarray(-2)).not.toEqual(SW_OK);
  });

  it('lets scriptor, an independent PC/SC client, select the applet and read the card id', async () => {
    const card = createTestCard(bed.cardDir);
    await bed.insert(card.file, 1, cardInsertOptions);
    const script = `${hexSpaced(SELECT_APPLET)}\n${hexSpaced(GET_CARD_ID)}\n`;
    const child = execFile('scriptor', ['-r', bed.readerName(1)], { timeout: 10_000 });
    child.stdin?.end(script);
    const output = await new Promise<string>((resolve) => {
      let text = '';
      child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.on('close', () => resolve(text));
    });
    const answers = scriptorResponses(output);
    expect(answers).toHaveLength(2);
    expect(answers[0]?.subarray(-2)).toEqual(SW_OK);
    expect(answers[1]?.subarray(-2)).toEqual(SW_OK);
    expect(cardIdFrom(answers[1] ?? Buffer.alloc(0))).toBe(card.cardId);
  });

  it('says what is wrong before touching the card', async () => {
    await expect(service.withCard(reader0, async () => 1)).rejects.toMatchObject({ code: 'CARD_ABSENT' });
    await expect(service.withCard('No Such Reader 00 00', async () => 1)).rejects.toMatchObject({
      code: 'READER_NOT_FOUND',
    });

    const picky = new PcscReaderService({ acceptAtr: () => false });
    const pickyEvents = new EventRecorder(picky);
    picky.start();
    try {
      const card = createTestCard(bed.cardDir);
      await bed.insert(card.file, 0, cardInsertOptions);
      await pickyEvents.waitFor(
        (e) => e.type === 'readers' && e.readers[0]?.condition === 'unknown-card',
        'unknown-card condition',
      );
      const err = await picky.withCard(reader0, async () => 1).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'CARD_UNKNOWN' });
      expect((err as Error).message).toMatch(/not an OTAC card/);
    } finally {
      await picky.stop();
    }
  });
});

/** scriptor prints each response as "< HEX HEX ..." wrapped over lines, ending in " : status text". */
function scriptorResponses(output: string): Buffer[] {
  return [...output.matchAll(/^< ([0-9A-F \n]+?) : /gm)].map((m) =>
    Buffer.from((m[1] ?? '').replace(/[^0-9A-F]/g, ''), 'hex'),
  );
}

function hexSpaced(bytes: Buffer): string {
  return (bytes.toString('hex').toUpperCase().match(/../g) ?? []).join(' ');
}

import { describe, expect, it } from 'vitest';
import { TRAINING_READER_NAME, TrainingReaderService } from '../../../src/core/card/training-reader';
import type { ReaderEvent } from '../../../src/core/card/reader.types';
import { ECHO_AID, ECHO_ATR, EchoCard } from '../../support/echo-card';

const SELECT = Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x00, ECHO_AID.length]), ECHO_AID]);

function started(options: ConstructorParameters<typeof TrainingReaderService>[0] = {}) {
  const service = new TrainingReaderService(options);
  const events: ReaderEvent[] = [];
  service.onEvent((e) => events.push(e));
  service.start();
  return { service, events };
}

describe('TrainingReaderService', () => {
  it('reports insertion and removal as events and in the snapshot', () => {
    const { service, events } = started();
    service.insert(new EchoCard());
    expect(events).toContainEqual({
      type: 'card-inserted',
      reader: TRAINING_READER_NAME,
      atr: ECHO_ATR.toString('hex').toUpperCase(),
    });
    expect(service.snapshot().readers[0]).toMatchObject({ cardPresent: true, condition: 'ready' });
    service.remove();
    expect(events.at(-2)).toEqual({ type: 'card-removed', reader: TRAINING_READER_NAME });
    expect(service.snapshot()).toEqual({
      state: 'running',
      readers: [{ name: TRAINING_READER_NAME, cardPresent: false, condition: 'empty' }],
    });
  });

  it('runs APDUs inside withCard and refuses a second concurrent session', async () => {
    const { service } = started();
    service.insert(new EchoCard());
    const id = await service.withCard(TRAINING_READER_NAME, async (transport) => {
      expect(await transport.transmit(SELECT)).toEqual(Buffer.from('9000', 'hex'));
      await expect(service.withCard(TRAINING_READER_NAME, async () => 1)).rejects.toMatchObject({ code: 'CARD_BUSY' });
      return transport.transmit(Buffer.from('00CA000000', 'hex'));
    });
    expect(id.toString('hex')).toBe('01020304050607089000');
  });

  it('fails the session with CARD_REMOVED when the card is pulled between APDUs', async () => {
    const { service } = started();
    service.insert(new EchoCard());
    await expect(
      service.withCard(TRAINING_READER_NAME, async (transport) => {
        await transport.transmit(SELECT);
        service.remove();
        return transport.transmit(SELECT);
      }),
    ).rejects.toMatchObject({ code: 'CARD_REMOVED' });
  });

  it('resets the card after a failed session so no half-done state survives', async () => {
    const { service } = started();
    const card = new EchoCard();
    service.insert(card);
    await expect(
      service.withCard(TRAINING_READER_NAME, async (transport) => {
        await transport.transmit(SELECT);
        throw new Error('workflow failed');
      }),
    ).rejects.toThrow('workflow failed');
    expect(card.resets).toBe(1);
    expect(card.selected).toBe(false);
  });

  it('says which precondition failed', async () => {
    const { service } = started({ acceptAtr: (atr) => atr.equals(Buffer.from('3B00', 'hex')) });
    await expect(service.withCard('Some Other Reader', async () => 1)).rejects.toMatchObject({
      code: 'READER_NOT_FOUND',
    });
    await expect(service.withCard(TRAINING_READER_NAME, async () => 1)).rejects.toMatchObject({ code: 'CARD_ABSENT' });
    service.insert(new EchoCard());
    await expect(service.withCard(TRAINING_READER_NAME, async () => 1)).rejects.toMatchObject({ code: 'CARD_UNKNOWN' });
    await service.stop();
    await expect(service.withCard(TRAINING_READER_NAME, async () => 1)).rejects.toMatchObject({ code: 'READER_NONE' });
  });

  it('rejects a transport used after its session ended', async () => {
    const { service } = started();
    service.insert(new EchoCard());
    const leaked = await service.withCard(TRAINING_READER_NAME, async (transport) => transport);
    await expect(leaked.transmit(SELECT)).rejects.toMatchObject({ code: 'CARD_SESSION_CLOSED' });
  });
});

import { describe, expect, it } from 'vitest';
import { send, transceive } from '../../../src/core/card/apdu-send';
import { CardError } from '../../../src/core/card/card-error';
import type { CardTransport } from '../../../src/core/card/transport';
import { scripted } from './support/scripted-card';

describe('send over a transport', () => {
  it('follows 61xx with GET RESPONSE and accumulates the data', async () => {
    const t = scripted([
      ['80ca000000', 'aabb6103'],
      ['00c0000003', 'ccddee6100'],
      ['00c0000000', 'ff9000'],
    ]);
    const r = await send(t, { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 256 }, 'test');
    expect(r).toEqual({ data: Buffer.from('aabbccddeeff', 'hex'), sw: 0x9000 });
    expect(t.left()).toBe(0);
  });

  it('re-issues the command with Le=xx on 6Cxx', async () => {
    const t = scripted([
      ['80ca000000', '6c05'],
      ['80ca000005', '01020304059000'],
    ]);
    expect((await send(t, { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 256 }, 'test')).data.length).toBe(5);
  });

  it('chains long data for a short-only link; each link must answer 9000', async () => {
    const data = Buffer.alloc(300, 0x11);
    const t = scripted([
      ['9052000' + '0ff' + '11'.repeat(255), '9000'],
      ['80520000' + '2d' + '11'.repeat(45), '9000'],
    ]);
    await send(t, { cla: 0x80, ins: 0x52, p1: 0, p2: 0, data }, 'stage', { extendedLength: false });
    const bad = scripted([['9052000' + '0ff' + '11'.repeat(255), '6883']]);
    await expect(
      send(bad, { cla: 0x80, ins: 0x52, p1: 0, p2: 0, data }, 'stage', { extendedLength: false }),
    ).rejects.toMatchObject({ sw: 0x6883 });
  });

  it('sends one extended APDU when the link allows', async () => {
    const data = Buffer.alloc(300, 0x22);
    const t = scripted([['80520000' + '00012c' + '22'.repeat(300), '9000']]);
    await send(t, { cla: 0x80, ins: 0x52, p1: 0, p2: 0, data }, 'stage', { extendedLength: true });
  });

  it('throws a CardError with the SW and a helpful message for anything but 9000', async () => {
    const err = await send(scripted([['80ca0000', '6982']]), { cla: 0x80, ins: 0xca, p1: 0, p2: 0 }, 'Reading').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CardError);
    expect((err as CardError).sw).toBe(0x6982);
    expect((err as CardError).code).toBe('CARD_SW_6982');
    expect((err as CardError).message).toMatch(/Reading: .*6982.*security status/);
    const ok = await transceive(scripted([['80ca0000', '63c2']]), { cla: 0x80, ins: 0xca, p1: 0, p2: 0 });
    expect(ok.sw).toBe(0x63c2);
  });

  it('an empty response is a typed error, not a crash', async () => {
    await expect(send(scripted([['80ca0000', '']]), { cla: 0x80, ins: 0xca, p1: 0, p2: 0 }, 'x')).rejects.toMatchObject(
      { code: 'CARD_RESPONSE_TOO_SHORT' },
    );
  });

  it('gives up on a card that announces 61xx forever', async () => {
    const t: CardTransport = { transmit: async () => Buffer.from('00'.repeat(256) + '6100', 'hex') };
    await expect(send(t, { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 256 }, 'x')).rejects.toMatchObject({
      code: 'CARD_RESPONSE_TOO_LONG',
    });
  });
});

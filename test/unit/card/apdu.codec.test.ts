import { describe, expect, it } from 'vitest';
import {
  chainCommand,
  decodeCommand,
  encodeCommand,
  encodeResponse,
  parseResponse,
} from '../../../src/core/card/apdu.codec';
import { CardError } from '../../../src/core/card/card-error';

const hex = (b: Buffer): string => b.toString('hex');
const d = (n: number, fill = 0xab): Buffer => Buffer.alloc(n, fill);

describe('command APDU encoding (ISO 7816-3 12.1)', () => {
  it.each([
    ['case 1', { cla: 0x80, ins: 0xca, p1: 1, p2: 2 }, '80ca0102'],
    ['case 2S', { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 16 }, '80ca000010'],
    ['case 2S Ne=256', { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 256 }, '80ca000000'],
    ['case 3S', { cla: 0x00, ins: 0x20, p1: 0, p2: 0x80, data: Buffer.from('31323334', 'hex') }, '002000800431323334'],
    [
      'case 4S',
      { cla: 0x00, ins: 0xa4, p1: 4, p2: 0, data: Buffer.from('f04f5441430001', 'hex'), ne: 256 },
      '00a4040007f04f544143000100',
    ],
  ])('%s', (_n, cmd, expected) => {
    expect(hex(encodeCommand(cmd))).toBe(expected);
  });

  it('case 2E: Le 00 Le1 Le2, 65536 as 0000', () => {
    expect(hex(encodeCommand({ cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 300 }))).toBe('80ca0000' + '00012c');
    expect(hex(encodeCommand({ cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 65536 }))).toBe('80ca0000' + '000000');
    expect(hex(encodeCommand({ cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 256 }, 'extended'))).toBe('80ca0000' + '000100');
  });

  it('case 3E and 4E: 00 Lc1 Lc2 data [Le1 Le2]', () => {
    const c3 = encodeCommand({ cla: 0x80, ins: 0x52, p1: 0, p2: 1, data: d(300) });
    expect(hex(c3.subarray(0, 7))).toBe('80520001' + '00012c');
    expect(c3.length).toBe(7 + 300);
    const c4 = encodeCommand({ cla: 0x80, ins: 0x52, p1: 0, p2: 1, data: d(256), ne: 65536 });
    expect(hex(c4.subarray(0, 7))).toBe('80520001' + '000100');
    expect(hex(c4.subarray(-2))).toBe('0000');
    expect(c4.length).toBe(7 + 256 + 2);
    const small = encodeCommand({ cla: 0x80, ins: 0x52, p1: 0, p2: 1, data: d(2), ne: 2 }, 'extended');
    expect(hex(small)).toBe('80520001' + '000002' + 'abab' + '0002');
  });

  it('refuses what cannot be encoded', () => {
    expect(() => encodeCommand({ cla: 0x80, ins: 0x52, p1: 0, p2: 0, data: d(256) }, 'short')).toThrow(CardError);
    expect(() => encodeCommand({ cla: 0x100, ins: 0, p1: 0, p2: 0 })).toThrow(CardError);
    expect(() => encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, ne: 0 })).toThrow(CardError);
    expect(() => encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, data: d(65536) })).toThrow(CardError);
  });
});

describe('command APDU decoding', () => {
  it('round-trips every case in both forms', () => {
    const cmds = [
      { cla: 0x80, ins: 0xca, p1: 1, p2: 2 },
      { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 1 },
      { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 256 },
      { cla: 0x80, ins: 0xca, p1: 0, p2: 0, ne: 65536 },
      { cla: 0x84, ins: 0x52, p1: 0, p2: 0, data: d(1) },
      { cla: 0x84, ins: 0x52, p1: 0, p2: 0, data: d(255), ne: 256 },
      { cla: 0x84, ins: 0x52, p1: 0, p2: 0, data: d(65535), ne: 65536 },
      { cla: 0x84, ins: 0x52, p1: 0, p2: 0, data: d(4000) },
    ];
    for (const c of cmds) {
      const back = decodeCommand(encodeCommand(c));
      expect({ ...back, extended: undefined }).toEqual({ ...c, data: c.data ?? Buffer.alloc(0), extended: undefined });
    }
    expect(decodeCommand(encodeCommand(cmds[1] as (typeof cmds)[0], 'extended')).extended).toBe(true);
  });

  it.each([
    ['too short', '80ca00'],
    ['short Lc too long', '80ca000005aabb'],
    ['short Lc + 2 extra', '80ca000001aabbcc'],
    ['extended length truncated', '80ca00000001'],
    ['extended Lc zero', '80ca0000000000aa'],
    ['extended Lc mismatch', '80ca0000000003aabb'],
  ])('rejects %s with CARD_APDU_MALFORMED', (_n, h) => {
    const err = (() => {
      try {
        decodeCommand(Buffer.from(h, 'hex'));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CardError);
    expect((err as CardError).code).toBe('CARD_APDU_MALFORMED');
  });
});

describe('command chaining (ISO 7816-4 5.4.1)', () => {
  it('splits into 255-byte pieces with CLA b5 on all but the last; Le only on the last', () => {
    const data = Buffer.from(Array.from({ length: 600 }, (_, i) => i & 0xff));
    const pieces = chainCommand({ cla: 0x84, ins: 0x52, p1: 0, p2: 3, data, ne: 256 });
    expect(pieces.map((p) => [p.cla, p.data?.length, p.ne])).toEqual([
      [0x94, 255, undefined],
      [0x94, 255, undefined],
      [0x84, 90, 256],
    ]);
    expect(Buffer.concat(pieces.map((p) => p.data ?? Buffer.alloc(0)))).toEqual(data);
    expect(hex(encodeCommand(pieces[0] as (typeof pieces)[0]).subarray(0, 5))).toBe('94520003ff');
  });

  it('leaves a command that fits alone', () => {
    const c = { cla: 0x80, ins: 0x52, p1: 0, p2: 0, data: d(255) };
    expect(chainCommand(c)).toEqual([c]);
  });
});

describe('response APDUs', () => {
  it('splits data and SW', () => {
    expect(parseResponse(Buffer.from('01029000', 'hex'))).toEqual({ data: Buffer.from('0102', 'hex'), sw: 0x9000 });
    expect(parseResponse(Buffer.from('6a82', 'hex'))).toEqual({ data: Buffer.alloc(0), sw: 0x6a82 });
    expect(hex(encodeResponse(Buffer.from('aa', 'hex'), 0x6310))).toBe('aa6310');
  });

  it.each([0, 1])('a %i-byte response (card died mid-APDU) is CARD_RESPONSE_TOO_SHORT', (n) => {
    expect(() => parseResponse(Buffer.alloc(n))).toThrow(expect.objectContaining({ code: 'CARD_RESPONSE_TOO_SHORT' }));
  });
});

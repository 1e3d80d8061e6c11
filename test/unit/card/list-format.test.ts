import { describe, expect, it } from 'vitest';
import { CardError } from '../../../src/core/card/card-error';
import {
  decodeListBody,
  decodeSignedList,
  encodeListBody,
  encodeSignedList,
} from '../../../src/core/card/protocol/list-format';
import {
  parseEnvelope,
  sealEnvelope,
  openEnvelope,
  envelopeKeysFromCardKey,
  ENVELOPE_CARD_KEY,
} from '../../../src/core/card/protocol/list-envelope';

const body = {
  cardId: Buffer.from('0102030405060708', 'hex'),
  listSeq: 7,
  listId: Buffer.alloc(16, 0xaa),
  expiry: 0x6a000000,
  threshold: 3,
  codeLength: 6,
  entries: [
    { index: 1, code: '123456' },
    { index: 2, code: '654321' },
    { index: 9, code: 'AB12cd' },
  ],
};

describe('list body and signed list', () => {
  it('encodes the fixed layout byte for byte and decodes it back', () => {
    const b = encodeListBody(body);
    expect(b.subarray(0, 38).toString('hex')).toBe(
      '01' + '0102030405060708' + '00000007' + 'aa'.repeat(16) + '6a000000' + '0003' + '06' + '0003',
    );
    expect(b.subarray(38, 46).toString('hex')).toBe('0001' + Buffer.from('123456').toString('hex'));
    expect(b.length).toBe(38 + 3 * 8);
    expect(decodeListBody(b)).toEqual(body);
  });

  it.each([
    [
      'descending indexes',
      {
        ...body,
        entries: [
          { index: 2, code: '123456' },
          { index: 1, code: '123456' },
        ],
      },
    ],
    ['index 0', { ...body, entries: [{ index: 0, code: '123456' }] }],
    ['wrong code length', { ...body, entries: [{ index: 1, code: '12345' }] }],
    ['space in code', { ...body, entries: [{ index: 1, code: '12 456' }] }],
    ['no entries', { ...body, entries: [] }],
    ['code length 3', { ...body, codeLength: 3, entries: [{ index: 1, code: '123' }] }],
  ])('refuses %s', (_n, b) => {
    expect(() => encodeListBody(b)).toThrow(CardError);
  });

  it('rejects a body whose length does not match its entry count', () => {
    const b = encodeListBody(body);
    expect(() => decodeListBody(b.subarray(0, b.length - 1))).toThrow(CardError);
    expect(() => decodeListBody(Buffer.concat([b, Buffer.alloc(1)]))).toThrow(CardError);
  });

  it('signed list: body, issuer key, CA signature, issuer signature', () => {
    const s = {
      body: encodeListBody(body),
      issuerPublicKey: Buffer.alloc(65, 4),
      caSignature: Buffer.alloc(71, 1),
      issuerSignature: Buffer.alloc(70, 2),
    };
    const enc = encodeSignedList(s);
    expect(enc.length).toBe(2 + s.body.length + 65 + 1 + 71 + 1 + 70);
    expect(decodeSignedList(enc)).toEqual(s);
    expect(() => decodeSignedList(enc.subarray(0, enc.length - 1))).toThrow(CardError);
  });

  it('envelope type 01: header, CBC ciphertext, CMAC; any flipped bit fails the MAC', () => {
    const keys = envelopeKeysFromCardKey(Buffer.alloc(16, 9), body.cardId, 7);
    const env = sealEnvelope(
      { type: ENVELOPE_CARD_KEY, keyVersion: 1, cardId: body.cardId, listSeq: 7 },
      keys,
      Buffer.from('signed list'),
    );
    expect(env.subarray(0, 14).toString('hex')).toBe('0101' + '0102030405060708' + '00000007');
    expect(env.length).toBe(14 + 16 + 16);
    const parsed = parseEnvelope(env);
    expect(openEnvelope(parsed, keys)?.toString()).toBe('signed list');
    for (const i of [0, 5, 13, 20, env.length - 1]) {
      const t = Buffer.from(env);
      t[i] = (t[i] ?? 0) ^ 0x01;
      let opened: Buffer | undefined;
      try {
        opened = openEnvelope(parseEnvelope(t), keys);
      } catch (e) {
        expect(e).toBeInstanceOf(CardError);
        continue;
      }
      expect(opened).toBeUndefined();
    }
  });
});

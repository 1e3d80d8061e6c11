import { describe, expect, it } from 'vitest';
import { createCipheriv } from 'node:crypto';
import { aesCmac } from '../../../src/core/crypto/aes-cmac';
import {
  cardCryptogram,
  deriveChallengeKey,
  deriveSessionKeys,
  deriveTransportKey,
  keyCheckValue,
  padM2,
  smUnwrapCommand,
  smUnwrapResponse,
  smWrapCommand,
  smWrapResponse,
  unpadM2,
} from '../../../src/core/card/protocol/sm-crypto';
import { deriveReceiptKey, envelopeKeysFromCardKey } from '../../../src/core/card/protocol/list-envelope';
import { decodePinBlock, encodePinBlock } from '../../../src/core/card/protocol/pin-block';

// The reference vectors printed in docs/card-profile.md appendix B. A card vendor checks an
// applet against them; a change here is a change of the profile and needs a new version.

const K = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const HC = Buffer.from('101112131415161718191a1b1c1d1e1f', 'hex');
const CC = Buffer.from('202122232425262728292a2b2c2d2e2f', 'hex');
const ID = Buffer.from('0102030405060708', 'hex');
const hex = (b: Buffer): string => b.toString('hex');

describe('profile reference vectors (appendix B)', () => {
  const s = deriveSessionKeys(K, HC, CC);

  it('session keys follow SP 800-108 counter mode: CMAC(K, [1]32 || label || 00 || HC || CC || [128]32)', () => {
    // Recomputed from the documented layout, independently of deriveKey().
    const manual = aesCmac(
      K,
      Buffer.concat([
        Buffer.from('00000001', 'hex'),
        Buffer.from('OTAC SM ENC'),
        Buffer.from([0]),
        HC,
        CC,
        Buffer.from('00000080', 'hex'),
      ]),
    );
    expect(hex(s.enc)).toBe(hex(manual));
    expect(hex(s.enc)).toBe('88836aa12e88b947ff56ad81c2c0d7ff');
    expect(hex(s.mac)).toBe('a2a4e23577b62bd198eba4f1e9cab712');
    expect(hex(s.rmac)).toBe('9a38f5c299e53242945542e1cb32223c');
    expect(hex(cardCryptogram(s, HC, CC))).toBe('2451e441a0d7ccc8458a994c7f943a52');
  });

  it('SM command and response fields', () => {
    const getState = smWrapCommand(s, 1, { cla: 0x84, ins: 0xca, p1: 0, p2: 0 }, Buffer.alloc(0));
    expect(hex(getState)).toBe('a918cf976c737539c20c4da0d888dee2');
    expect(hex(getState)).toBe(hex(aesCmac(s.mac, Buffer.from('0000000184ca0000', 'hex'))));
    const rrc = smWrapCommand(s, 2, { cla: 0x84, ins: 0x2c, p1: 0, p2: 0x80 }, encodePinBlock('1234'));
    expect(hex(rrc)).toBe('bec4735fed3ba3c4bb49b19c21bf60a380baa7b7380d664d222af9428c9342ad');
    // ICV = AES-ECB(S-ENC, 00..00 || counter); then CBC over the M2-padded plaintext.
    const icv = createCipheriv('aes-128-ecb', s.enc, null)
      .setAutoPadding(false)
      .update(Buffer.from('00000000000000000000000000000002', 'hex'));
    const e = createCipheriv('aes-128-cbc', s.enc, icv)
      .setAutoPadding(false)
      .update(padM2(encodePinBlock('1234')));
    expect(hex(rrc.subarray(0, 16))).toBe(hex(e));
    expect(smUnwrapCommand(s, 2, { cla: 0x94, ins: 0x2c, p1: 0, p2: 0x80 }, rrc)).toEqual(encodePinBlock('1234'));
    expect(smUnwrapCommand(s, 3, { cla: 0x84, ins: 0x2c, p1: 0, p2: 0x80 }, rrc)).toBeUndefined();
    const resp = smWrapResponse(s, 2, Buffer.alloc(0), 0x9000);
    expect(hex(resp)).toBe('f18f51c9dd17a191ad3333a341db947a');
    expect(smUnwrapResponse(s, 2, resp, 0x9000)).toEqual(Buffer.alloc(0));
    expect(smUnwrapResponse(s, 2, resp, 0x6a80)).toBeUndefined();
  });

  it('key check value, transport, envelope, receipt and challenge keys', () => {
    expect(hex(keyCheckValue(K))).toBe('c35280');
    expect(hex(deriveTransportKey(Buffer.from('404142434445464748494a4b4c4d4e4f', 'hex'), ID))).toBe(
      'da517db2abb69fbc1d99f5ab8043f3cc',
    );
    const ek = envelopeKeysFromCardKey(K, ID, 1);
    expect(hex(ek.enc)).toBe('6441d81b33b2a7542e76e08f45a8fb52');
    expect(hex(ek.mac)).toBe('663b37d2920ed4473f72c455a52f2bfa');
    expect(hex(deriveReceiptKey(K, ID, 1))).toBe('68d414ebe089d4dafc77904bb51620b9');
    expect(hex(deriveChallengeKey(K, ID))).toBe('942cdabffbb9ae5d46784b313b8a27cf');
  });

  it('ISO 9797-1 method 2 padding and PIN blocks', () => {
    expect(hex(padM2(Buffer.alloc(0)))).toBe('80' + '00'.repeat(15));
    expect(padM2(Buffer.alloc(16)).length).toBe(32);
    expect(unpadM2(Buffer.from('0102800000000000000000000000000000'.slice(0, 32), 'hex'))).toEqual(
      Buffer.from('0102', 'hex'),
    );
    expect(unpadM2(Buffer.alloc(16))).toBeUndefined();
    expect(hex(encodePinBlock('1234'))).toBe('31323334ffffffff');
    expect(decodePinBlock(Buffer.from('3132333435363738', 'hex'))).toBe('12345678');
    expect(decodePinBlock(Buffer.from('313233ffffffffff', 'hex'))).toBeUndefined();
    expect(decodePinBlock(Buffer.from('31323334ff35ffff', 'hex'))).toBeUndefined();
  });
});

describe('docs/card-profile.md matches the code', () => {
  it('lists every INS of profile.constants in its command table, with the AID', async () => {
    const { readFileSync } = await import('node:fs');
    const { INS, OTAC_AID } = await import('../../../src/core/card/protocol/profile.constants');
    const doc = readFileSync(new URL('../../../docs/card-profile.md', import.meta.url), 'utf8');
    for (const [name, ins] of Object.entries(INS)) {
      const hexIns = ins.toString(16).toUpperCase().padStart(2, '0');
      expect(doc, name).toMatch(new RegExp(`\\| (00|80|84|80 / 84) +\\| ${hexIns} +\\|`)); // cells padded by prettier
    }
    expect(doc).toContain(OTAC_AID.toString('hex').toUpperCase().match(/../g)?.join(' '));
  });
});

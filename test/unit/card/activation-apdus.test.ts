import { describe, expect, it } from 'vitest';
import type { CardTransport } from '../../../src/core/card/transport';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { SecureChannel } from '../../../src/core/card/protocol/secure-channel';
import { RawCardKeyPort } from '../../../src/core/card/raw-card-key-port';
import { aesCmac } from '../../../src/core/crypto/aes-cmac';
import { cbc, CC, ecb, HC, K, K_NEXT, pad, S_ENC, S_MAC, S_RMAC, smCommand, u32 } from './support/profile-reference';
import { scripted } from './support/scripted-card';

// The host's ACTIVATE and ROTATE KEY, byte for byte against docs/card-profile.md (3, 5.3, 6.3,
// 6.4, 9.3) with fixed keys and challenges: the expected bytes are built here from the profile's
// text and Appendix B's session keys, not from the host's own SM code, so host and profile cannot
// drift together. PERSONALISE and the list push: personalise-push-apdus.test.ts.

describe("the host's activation and rotation APDUs, byte for byte", () => {
  it('ACTIVATE: 80 30 00 00 18, K (16) then the PIN block (8), no Le (profile 3, 5.2, 5.3)', async () => {
    const t = scripted([['8030000018' + K.toString('hex') + '31323334FFFFFFFF', '9000']]);
    await new OtacCard(t).activate(K, '1234');
    expect(t.left()).toBe(0);
    // An 8-digit PIN fills the block.
    const t8 = scripted([['8030000018' + K.toString('hex') + '3733393135303436', '9000']]);
    await new OtacCard(t8).activate(K, '73915046');
  });

  it('ACTIVATE with a wrong K: 63C4 becomes "4 tries left", never a retry', async () => {
    const t = scripted([['8030000018' + K.toString('hex') + '31323334FFFFFFFF', '63C4']]);
    await expect(new OtacCard(t).activate(K, '1234')).rejects.toMatchObject({
      code: 'CARD_ACTIVATION_KEY_WRONG',
      sw: 0x63c4,
      message: expect.stringContaining('4 tries left') as string,
    });
    expect(t.left()).toBe(0);
  });

  it("ROTATE KEY: 84 D2 <new version> 00 under SM, plaintext K' || KCV(K'), the session ends (profile 6.3, 6.4, 9.3)", async () => {
    const port = new RawCardKeyPort();
    const crypto = await port.openSession(port.importAesKey(K), HC, CC);
    const c = 1;
    const plaintext = Buffer.concat([K_NEXT, ecb(K_NEXT, Buffer.alloc(16, 0x01)).subarray(0, 3)]);
    expect(plaintext).toHaveLength(19);
    const icv = ecb(S_ENC, Buffer.concat([Buffer.alloc(12), u32(c)]));
    const e = cbc(S_ENC, icv, pad(plaintext));
    const tag = aesCmac(S_MAC, Buffer.concat([u32(c), Buffer.from('84D20200', 'hex'), e]));
    const command = '84D20200' + '30' + e.toString('hex') + tag.toString('hex') + '00';
    // The shared builder the PERSONALISE tests use writes the same bytes as this step-by-step form.
    expect(smCommand({ enc: S_ENC, mac: S_MAC, rmac: S_RMAC }, c, '84D20200', plaintext)).toBe(command.toLowerCase());
    // The card's answer: no data, so E' is empty and T' = CMAC(S-RMAC, [c]32 || SW).
    const rmac = aesCmac(S_RMAC, Buffer.concat([u32(c), Buffer.from('9000', 'hex')]));
    const t = scripted([[command, rmac.toString('hex') + '9000']]);
    const sm = new SecureChannel(t, { extendedLength: false }, crypto);
    await sm.rotateKey(port.importAesKey(K_NEXT), 2);
    expect(t.left()).toBe(0);
    expect(sm.isOpen).toBe(false);
  });

  it('ROTATE KEY refused with 6A86 (version not newer): the error is authentic (R-MAC checked) and the session closes', async () => {
    const port = new RawCardKeyPort();
    const crypto = await port.openSession(port.importAesKey(K), HC, CC);
    const rmac = aesCmac(S_RMAC, Buffer.concat([u32(1), Buffer.from('6A86', 'hex')]));
    const t: CardTransport = { transmit: async () => Buffer.concat([rmac, Buffer.from('6A86', 'hex')]) };
    const sm = new SecureChannel(t, { extendedLength: false }, crypto);
    await expect(sm.rotateKey(port.importAesKey(K_NEXT), 1)).rejects.toMatchObject({ sw: 0x6a86 });
    expect(sm.isOpen).toBe(false);
    // A forged R-MAC on the same SW is not believed.
    const forged: CardTransport = {
      transmit: async () => Buffer.concat([Buffer.alloc(16), Buffer.from('9000', 'hex')]),
    };
    const sm2 = new SecureChannel(
      forged,
      { extendedLength: false },
      await port.openSession(port.importAesKey(K), HC, CC),
    );
    await expect(sm2.rotateKey(port.importAesKey(K_NEXT), 2)).rejects.toMatchObject({
      code: 'CARD_SM_RESPONSE_INVALID',
    });
  });
});

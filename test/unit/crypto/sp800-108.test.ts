import { describe, expect, it } from 'vitest';
import { deriveKey, kdfCounterCmac } from '../../../src/core/crypto/sp800-108';

// NIST CAVP KBKDF vectors (KDFCTR_gen.rsp, PRF = CMAC-AES, L = 128), as transcribed in
// BouncyCastle's KdfCounterTest (bcgit/bc-csharp). BEFORE_FIXED: [i] || fixed;
// AFTER_FIXED: fixed || [i]; MIDDLE_FIXED: before || [i] || after.
type Loc = 'before' | 'after' | 'middle';
const vectors: [string, Loc, 8 | 16 | 24 | 32, string, string, string][] = [
  [
    'AES128',
    'before',
    8,
    'dff1e50ac0b69dc40f1051d46c2b069c',
    'c16e6e02c5a3dcc8d78b9ac1306877761310455b4e41469951d9e6c2245a064b33fd8c3b01203a7824485bf0a64060c4648b707d2607935699316ea5',
    '8be8f0869b3c0ba97b71863d1b9f7813',
  ],
  [
    'AES128',
    'before',
    16,
    '30ec5f6fa1def33cff008178c4454211',
    'c95e7b1d4f2570259abfc05bb00730f0284c3bb9a61d07259848a1cb57c81d8a6c3382c500bf801dfc8f70726b082cf4c3fa34386c1e7bf0e5471438',
    '00018fff9574994f5c4457f461c7a67e',
  ],
  [
    'AES128',
    'before',
    24,
    'ca1cf43e5ccd512cc719a2f9de41734c',
    'e3884ac963196f02ddd09fc04c20c88b60faa775b5ef6feb1faf8c5e098b5210e2b4e45d62cc0bf907fd68022ee7b15631b5c8daf903d99642c5b831',
    '1cb2b12326cc5ec1eba248167f0efd58',
  ],
  [
    'AES128',
    'before',
    32,
    'c10b152e8c97b77e18704e0f0bd38305',
    '98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4',
    '26faf61908ad9ee881b8305c221db53f',
  ],
  [
    'AES128',
    'after',
    8,
    'e61a51e1633e7d0de704dcebbd8f962f',
    '5eef88f8cb188e63e08e23c957ee424a3345da88400c567548b57693931a847501f8e1bce1c37a09ef8c6e2ad553dd0f603b52cc6d4e4cbb76eb6c8f',
    '63a5647d0fe69d21fc420b1a8ce34cc1',
  ],
  [
    'AES128',
    'after',
    32,
    '02f9ff0a7b136bdbdb09bc420a35d46f',
    'ebdacfb0d14c6e38602dc95b43cea8d354596c360b31a02ea780d4fe35728ec75de2fb357c36c1210c10d35369982989ad02ab4f4094fdc86618e3f9',
    '207ee3acb1d1785fb36109f9970153d8',
  ],
  [
    'AES128',
    'middle',
    8,
    'b6e04abd1651f8794d4326f4c684e631',
    '93612f7256c46a3d856d3e951e32dbf15fe11159d0b389ad38d603850fee6d18d22031435ed36ee20da76745fbea4b10fe1e|99322aae605a5f01e32b',
    'dcb1db87a68762c6b3354779fa590bef',
  ],
  [
    'AES128',
    'middle',
    32,
    '90e33a1e76adedcabd2214326be71abf',
    '3d2f38c571575807eecd0ec9e3fd860fb605f0b17139ce01904abba7ae688a50e620341787f69f00b872343f42b18c979f6f|8885034123cb45e27440',
    '9e2156cd13e079c1e6c6379f9a55f433',
  ],
  [
    'AES256',
    'before',
    8,
    'aeb7201d055f754212b3e497bd0b25789a49e51da9f363df414a0f80e6f4e42c',
    '11ec30761780d4c44acb1f26ca1eb770f87c0e74505e15b7e456b019ce0c38103c4d14afa1de71d340db51410596627512cf199fffa20ef8c5f4841e',
    '2a9e2fe078bd4f5d3076d14d46f39fb2',
  ],
  [
    'AES256',
    'before',
    16,
    '4df60800bf8e2f6055c5ad6be43ee3deb54e2a445bc88a576e111b9f7f66756f',
    '962adcaf12764c87dad298dbd9ae234b1ff37fed24baee0649562d466a80c0dcf0a65f04fe5b477fd00db6767199fa4d1b26c68158c8e656e740ab4d',
    'eca99d4894cdda31fe355b82059a845c',
  ],
  [
    'AES256',
    'before',
    24,
    '1612a40daa7fce6c6788b3b71311188ffb850613fd81d0e87a891831348e2f28',
    '1696438fcdf9a85284759b2604b64d7ea76199514709e711ecde5a505b5f27ae38d154aba14322481ddc9fd9169364b991460a0c9a05c7fcb2d099c9',
    'd101f4f2b5e239bae881cb488995bd52',
  ],
  [
    'AES256',
    'before',
    32,
    'd0b1b3b70b2393c48ca05159e7e28cbeadea93f28a7cdae964e5136070c45d5c',
    'dd2f151a3f173492a6fbbb602189d51ddf8ef79fc8e96b8fcbe6dabe73a35b48104f9dff2d63d48786d2b3af177091d646a9efae005bdfacb61a1214',
    '8c449fb474d1c1d4d2a33827103b656a',
  ],
  [
    'AES256',
    'after',
    8,
    'd22779384558d1ae649896e8d844f29a4ff3dfc1a9fbb7c34e20738f8c795e17',
    '498cf66c5fd3578ff574ed8c85d072dcd9e18e4f07b0aaecad785c9058fa0f17647673df807984f5f20dec47e699aebd882e485a8afc44c4bc680d07',
    'c721f54afaa0e31886df39bf405514d1',
  ],
  [
    'AES256',
    'after',
    16,
    '6205ae02dc1e943506ac7049889de1d9e4cfb7e696508ec999f4cb3d06ac5964',
    'b145c7c120101f418f069dd639feda41c36ffc64a251afb5829c4c71572f16a5cdbf8518d8b9fad7a7ef40483ad0f8a8c044aefb7dc8b465923ab403',
    '22001c6de7ca7e303cfa7266f834d7fc',
  ],
  [
    'AES256',
    'after',
    24,
    '404b2b964f2cc8f50b614f591a58d15c21844c115d8b62472f06bdd82a992a5e',
    'bdbe08a73cae7a5f6ce100753b981d4fc432da7cd841095a211b60f3c7b0a6297d98b84246cf9fe62bd02022c7b50e88a5cafc400aa881cadc5f8979',
    '897f6aebf46fb0ee41a89b324ee82edd',
  ],
  [
    'AES256',
    'after',
    32,
    '746c44c4129858d89e50e09dc44aec2ab2158c2e0c6bb73b35588e94e33a1958',
    'ebeed6a0462577b6b4e2fe4697c6ae6e1c6b8b9fd14381247bc2cf2c06d7afb55b06389612a85d0a69a1486eb399e7f314b234fd44908396b55f6e67',
    '85e1cd8cea5a43f7f5b626fa7666f550',
  ],
  [
    'AES256',
    'middle',
    8,
    '701c0f5a65a42d07077d6eedf540ef9374bcb74cb89bfe017e5ca1e9df6b2b70',
    '2ce10feb56dda9fdc95da5b5013f05f59d13a89b3a1ad4527bd00612190ac6613b007afdf00fbc920cc6e8d5fd9da9ae267d|86373a67ab86e7bde5b7',
    '0ca10ea17fd28eaf660191fd983cb353',
  ],
  [
    'AES256',
    'middle',
    24,
    'bcc9da67e6309c4c365de53a040fa6a64f387d48257fd1751cffdfae6644c59a',
    '6740b398eff3ec6288090caac3ae9210c91809774172e108bb51a216eaa5a67cd0420932146a42254d3e2b8c2c34f9c118ed|335747e149d25dccf1ff',
    '0288ef588897480caeb1d0d9cd30a6d9',
  ],
];

describe('NIST SP 800-108 counter mode, CMAC-AES (CAVP)', () => {
  it.each(vectors)('%s counter %s fixed data, r = %i', (_aes, loc, r, ki, fixed, ko) => {
    const [a = '', b = ''] = fixed.split('|');
    const input =
      loc === 'before'
        ? { after: Buffer.from(a, 'hex') }
        : loc === 'after'
          ? { before: Buffer.from(a, 'hex') }
          : { before: Buffer.from(a, 'hex'), after: Buffer.from(b, 'hex') };
    const out = kdfCounterCmac(Buffer.from(ki, 'hex'), { ...input, counterBits: r, lengthBits: 128 });
    expect(out.toString('hex')).toBe(ko);
  });

  it('deriveKey lays out [i]_32 || label || 0x00 || context || [L]_32', () => {
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const explicit = kdfCounterCmac(key, {
      counterBits: 32,
      lengthBits: 256,
      after: Buffer.concat([Buffer.from('LBL'), Buffer.from([0]), Buffer.from('ctx'), Buffer.from('00000100', 'hex')]),
    });
    expect(deriveKey(key, 'LBL', Buffer.from('ctx'), 256).equals(explicit)).toBe(true);
    expect(deriveKey(key, 'LBM', Buffer.from('ctx'), 256).equals(explicit)).toBe(false);
  });

  it('refuses an output length the counter cannot reach', () => {
    expect(() => kdfCounterCmac(Buffer.alloc(16), { counterBits: 8, lengthBits: 128 * 256 })).toThrow(RangeError);
  });
});

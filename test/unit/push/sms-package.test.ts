import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  joinPackage,
  MAX_SEGMENTS,
  PackageAssembler,
  packageId,
  SEGMENT_PAYLOAD_BYTES,
  SMS_LENGTH,
  splitPackage,
} from '../../../src/core/push/sms-package';

// GSM 03.38 default alphabet characters a segment may use (no escape-table characters).
const GSM7 = /^[A-Za-z0-9 @£$¥èéùìòÇØøÅå_!"#¤%&'()*+,\-./:;<=>?¡ÄÖÑÜ§¿äöñüà]*$/;
const shuffle = <T>(xs: T[]): T[] =>
  xs
    .map((x) => [Math.random(), x] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, x]) => x);

describe('remote refill package as text messages', () => {
  it('names a package by the first 30 bits of SHA-256, in Crockford base32', () => {
    // SHA-256("abc") begins ba7816bf; its first 30 bits are 0x2e9e05af = groups 23 9 28 1 13 15.
    expect(packageId(Buffer.from('abc'))).toBe('Q9W1DF');
    expect(packageId(Buffer.from('abd'))).not.toBe('Q9W1DF');
  });

  it.each([1, SEGMENT_PAYLOAD_BYTES, SEGMENT_PAYLOAD_BYTES + 1, 1337, MAX_SEGMENTS * SEGMENT_PAYLOAD_BYTES])(
    'splits %i bytes into SMS-sized GSM-7 segments that join back in any order',
    (size) => {
      const envelope = randomBytes(size);
      const segments = splitPackage(envelope);
      expect(segments).toHaveLength(Math.ceil(size / SEGMENT_PAYLOAD_BYTES));
      for (const s of segments) {
        expect(s.length).toBeLessThanOrEqual(SMS_LENGTH);
        expect(s).toMatch(GSM7);
      }
      expect(joinPackage(shuffle([...segments]))).toEqual(envelope);
    },
  );

  it('refuses a list too large for 99 messages', () => {
    expect(() => splitPackage(randomBytes(MAX_SEGMENTS * SEGMENT_PAYLOAD_BYTES + 1))).toThrow(
      expect.objectContaining({ code: 'PACKAGE_TOO_LARGE' }),
    );
  });

  it('ignores a repeated segment and says which are missing', () => {
    const segments = splitPackage(randomBytes(5 * SEGMENT_PAYLOAD_BYTES));
    const a = new PackageAssembler();
    expect(a.add(segments[3]!)).toEqual({ complete: false, missing: [1, 2, 3, 5] });
    expect(a.add(segments[3]!)).toEqual({ complete: false, missing: [1, 2, 3, 5] });
    a.add(segments[0]!);
    a.add(segments[4]!);
    expect(a.add(segments[1]!)).toEqual({ complete: false, missing: [3] });
    expect(() => joinPackage(segments.filter((_, i) => i !== 2))).toThrow(
      expect.objectContaining({ code: 'PACKAGE_INCOMPLETE', message: expect.stringContaining('Segments 3') as string }),
    );
    expect(a.add(segments[2]!)).toMatchObject({ complete: true });
  });

  it('refuses a segment of another package, and two different texts for one index', () => {
    const mine = splitPackage(randomBytes(300));
    const other = splitPackage(randomBytes(300));
    const a = new PackageAssembler();
    a.add(mine[0]!);
    expect(() => a.add(other[1]!)).toThrow(expect.objectContaining({ code: 'PACKAGE_SEGMENT_FOREIGN' }));
    const forged = mine[1]!.slice(0, -2) + (mine[1]!.endsWith('AA') ? 'BB' : 'AA');
    a.add(mine[1]!);
    expect(() => a.add(forged)).toThrow(expect.objectContaining({ code: 'PACKAGE_SEGMENT_CONFLICT' }));
  });

  it('catches an altered or truncated segment when the whole is put together', () => {
    const envelope = randomBytes(400);
    const segments = splitPackage(envelope);
    const flip = (s: string) => s.slice(0, -3) + (s.at(-3) === 'A' ? 'B' : 'A') + s.slice(-2);
    expect(() => joinPackage([flip(segments[0]!), ...segments.slice(1)])).toThrow(
      expect.objectContaining({ code: 'PACKAGE_CORRUPT' }),
    );
    expect(() => joinPackage([segments[0]!.slice(0, -4), ...segments.slice(1)])).toThrow(
      expect.objectContaining({ code: 'PACKAGE_CORRUPT' }),
    );
  });

  it.each([
    '',
    'hello',
    'OTAC1 ABCDEF 01/02',
    'OTAC1 ABCDEF 03/02 AAAA',
    'OTAC1 ABCDEF 00/02 AAAA',
    'OTAC1 abcdef 01/01 AAAA',
    'OTAC1 ABCDEU 01/01 AAAA',
  ])('refuses %j as a segment', (text) => {
    expect(() => new PackageAssembler().add(text)).toThrow(
      expect.objectContaining({ code: 'PACKAGE_SEGMENT_MALFORMED' }),
    );
  });
});

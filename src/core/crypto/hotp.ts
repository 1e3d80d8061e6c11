import { createHmac } from 'node:crypto';

// RFC 4226 HOTP: the code function of a list (code i = HOTP(list secret, i)). Pure, so the
// keystore backends can run it where the list secret lives; checked against RFC 4226 appendix D.

export const HOTP_MIN_DIGITS = 6;
export const HOTP_MAX_DIGITS = 10;

/** HOTP(secret, counter) as a zero-padded decimal string of `digits` digits (6 to 10). */
export function hotp(secret: Uint8Array, counter: number | bigint, digits = HOTP_MIN_DIGITS): string {
  if (!Number.isInteger(digits) || digits < HOTP_MIN_DIGITS || digits > HOTP_MAX_DIGITS) {
    throw new RangeError(`HOTP digits must be ${HOTP_MIN_DIGITS}..${HOTP_MAX_DIGITS}, got ${digits}`);
  }
  const c = BigInt(counter);
  if (c < 0n || c > 0xffff_ffff_ffff_ffffn) throw new RangeError('HOTP counter must fit in 8 unsigned bytes');
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(c);
  const mac = createHmac('sha1', secret).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fff_ffff;
  // 10 digits exceed 2^31: the truncated value is simply printed with leading zeros.
  return (BigInt(binary) % 10n ** BigInt(digits)).toString().padStart(digits, '0');
}

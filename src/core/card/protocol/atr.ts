/**
 * Recognising an OTAC card by its answer-to-reset, before any APDU: 20 bytes, direct
 * convention, historical bytes 80 5D 'OTAC' <profile> <8-byte card id> (docs/card-profile.md).
 */
export function cardIdFromAtr(atr: Buffer): Buffer | undefined {
  if (atr.length !== 20 || atr[0] !== 0x3b || atr.subarray(6, 10).toString('latin1') !== 'OTAC') return undefined;
  return Buffer.from(atr.subarray(11, 19));
}

export function isOtacAtr(atr: Buffer): boolean {
  return cardIdFromAtr(atr) !== undefined;
}

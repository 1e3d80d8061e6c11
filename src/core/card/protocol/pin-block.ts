import { AppError } from '../../errors';
import { PIN_BLOCK_LENGTH } from './profile.constants';

// Cardholder PIN on the wire: 4–8 ASCII digits, padded with 0xFF to 8 bytes (profile 5.2).

export function isValidPin(pin: string): boolean {
  return /^[0-9]{4,8}$/.test(pin);
}

export function encodePinBlock(pin: string): Buffer {
  if (!isValidPin(pin)) throw new AppError('PIN_FORMAT', 'A PIN is 4 to 8 digits. Enter it again.');
  const b = Buffer.alloc(PIN_BLOCK_LENGTH, 0xff);
  b.write(pin, 0, 'ascii');
  return b;
}

/** The PIN digits, or undefined when the block is not a valid PIN block. */
export function decodePinBlock(block: Buffer): string | undefined {
  if (block.length !== PIN_BLOCK_LENGTH) return undefined;
  let end = block.indexOf(0xff);
  if (end < 0) end = PIN_BLOCK_LENGTH;
  if (!block.subarray(end).every((b) => b === 0xff)) return undefined;
  const pin = block.subarray(0, end).toString('latin1');
  return isValidPin(pin) ? pin : undefined;
}

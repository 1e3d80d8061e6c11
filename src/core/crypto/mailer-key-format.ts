import { createHash } from 'node:crypto';

// How a 128-bit customer key K is printed on the K/N mailer and typed back in by the
// cardholder (docs/keystore.md, "Mailer key format"):
//   128 key bits || 12 check bits (first 12 bits of SHA-256(K)) = 140 bits
//   = 28 Crockford base32 characters, in 7 groups of 4, each followed by a Luhn mod 32
//   check character computed over (group number, 4 characters): "7K2QX-..." (7 × 5 chars).
// A typo is pinned to its group; a swapped pair of groups or a slip the group checks
// miss is caught by the 12 whole-key check bits.

export const MAILER_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 7;
const DATA_PER_GROUP = 4;
const KEY_BYTES = 16;

export type MailerKeyParse =
  | { readonly ok: true; readonly key: Buffer }
  | {
      readonly ok: false;
      readonly reason: 'length' | 'character' | 'group' | 'checksum';
      readonly badGroups: readonly number[];
    };

export function formatMailerKey(key: Uint8Array): string {
  if (key.length !== KEY_BYTES) throw new RangeError(`mailer keys are ${KEY_BYTES} bytes`);
  const bits = toBits(Buffer.concat([key, checkBits(key)]), 140);
  const chars: number[] = [];
  for (let i = 0; i < bits.length; i += 5) chars.push(parseInt(bits.slice(i, i + 5), 2));
  const groups: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const data = chars.slice(g * DATA_PER_GROUP, (g + 1) * DATA_PER_GROUP);
    groups.push([...data, luhnMod32(g + 1, data)].map((c) => MAILER_ALPHABET[c]).join(''));
  }
  return groups.join('-');
}

export function parseMailerKey(text: string): MailerKeyParse {
  const clean = text.toUpperCase().replace(/[\s-]/g, '').replace(/[O]/g, '0').replace(/[IL]/g, '1');
  if (clean.length !== GROUPS * (DATA_PER_GROUP + 1)) return { ok: false, reason: 'length', badGroups: [] };
  const values = [...clean].map((ch) => MAILER_ALPHABET.indexOf(ch));
  const badChars = new Set<number>();
  values.forEach((v, i) => {
    if (v < 0) badChars.add(Math.floor(i / (DATA_PER_GROUP + 1)) + 1);
  });
  if (badChars.size > 0) return { ok: false, reason: 'character', badGroups: [...badChars] };
  const data: number[] = [];
  const badGroups: number[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const group = values.slice(g * 5, g * 5 + 5);
    const body = group.slice(0, DATA_PER_GROUP);
    if (luhnMod32(g + 1, body) !== group[DATA_PER_GROUP]) badGroups.push(g + 1);
    data.push(...body);
  }
  if (badGroups.length > 0) return { ok: false, reason: 'group', badGroups };
  const bits = data.map((v) => v.toString(2).padStart(5, '0')).join('');
  const bytes = fromBits(bits.slice(0, 136) + '0000'); // 17 bytes: key + 8 of the 12 check bits (+4 pad)
  const key = bytes.subarray(0, KEY_BYTES);
  if (toBits(checkBits(key), 12) !== bits.slice(128, 140)) return { ok: false, reason: 'checksum', badGroups: [] };
  return { ok: true, key: Buffer.from(key) };
}

function checkBits(key: Uint8Array): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, 2);
}

function toBits(bytes: Uint8Array, count: number): string {
  return [...bytes]
    .map((b) => b.toString(2).padStart(8, '0'))
    .join('')
    .slice(0, count);
}

function fromBits(bits: string): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  for (let i = 0; i < out.length; i++) out[i] = parseInt(bits.slice(i * 8, i * 8 + 8).padEnd(8, '0'), 2);
  return out;
}

/** Luhn mod N (N = 32) check character over the group number and the group's characters. */
export function luhnMod32(groupNumber: number, chars: readonly number[]): number {
  const input = [groupNumber % 32, ...chars];
  let factor = 2;
  let sum = 0;
  for (let i = input.length - 1; i >= 0; i--) {
    const addend = factor * (input[i] ?? 0);
    sum += Math.floor(addend / 32) + (addend % 32);
    factor = factor === 2 ? 1 : 2;
  }
  return (32 - (sum % 32)) % 32;
}

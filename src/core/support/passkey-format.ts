import { randomInt } from 'node:crypto';
import type { PASSKEY_ALPHABETS } from '../../shared/contract/policy.contract';

// The out-of-band passkey's format (source 004 claim 9: alphabetic, alphanumeric or numeric), from
// the policy. Drawn uniformly with the CSPRNG (randomInt rejects bias). What the customer reads back
// is normalised the same way before its tag is computed, so spaces, dashes and case do not count as
// a wrong entry, and in Crockford base32 the letters a person confuses read as the digits they mean.

export type PasskeyAlphabet = (typeof PASSKEY_ALPHABETS)[number];

const ALPHABETS: Record<PasskeyAlphabet, string> = {
  digits: '0123456789',
  'base32-crockford': '0123456789ABCDEFGHJKMNPQRSTVWXYZ',
  // No 0/O, 1/I/L, 2/Z, 5/S, 8/B: what remains cannot be misread on a phone's screen or over the phone.
  'alphanumeric-unambiguous': '345679ACDEFGHJKMNPQRTUVWXY',
};

export function passkeyCharacters(alphabet: PasskeyAlphabet): string {
  return ALPHABETS[alphabet];
}

/** A fresh passkey of `length` characters from the policy's alphabet. */
export function generatePasskey(alphabet: PasskeyAlphabet, length: number): string {
  const chars = ALPHABETS[alphabet];
  let out = '';
  for (let i = 0; i < length; i++) out += chars[randomInt(chars.length)];
  return out;
}

/** What was typed or sent, as the alphabet writes it: upper case, no separators, Crockford's aliases. */
export function normalisePasskey(typed: string, alphabet: PasskeyAlphabet): string {
  let s = typed.toUpperCase().replace(/[\s\-_.]/g, '');
  if (alphabet === 'base32-crockford') s = s.replace(/O/g, '0').replace(/[IL]/g, '1');
  return s;
}

/** Whether a normalised value has the passkey's shape (length and alphabet); anything else is not tried. */
export function isPasskeyShaped(value: string, alphabet: PasskeyAlphabet, length: number): boolean {
  if (value.length !== length) return false;
  const chars = ALPHABETS[alphabet];
  for (const c of value) if (!chars.includes(c)) return false;
  return true;
}

/** Groups of four for reading aloud and for the message: "7K3M-Q9XD". */
export function groupPasskey(passkey: string): string {
  return passkey.match(/.{1,4}/g)?.join('-') ?? passkey;
}

/**
 * The passkey-shaped words of an e-mail body (claim 3), quoted lines (a reply's "> …") left out. A
 * word is taken whole ("7K3M-Q9XD", "7k3mq9xd"); two neighbouring words of four are joined as the
 * grouping the message used ("7K3M Q9XD") only when they hold a digit, so ordinary words ("here this")
 * do not pass for a passkey.
 */
export function passkeyCandidates(body: string, alphabet: PasskeyAlphabet, length: number): string[] {
  const found = new Set<string>();
  for (const line of body.split(/\r?\n/)) {
    if (line.trimStart().startsWith('>')) continue;
    const words = line
      .split(/\s+/)
      .map((w) => w.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''))
      .filter(Boolean);
    words.forEach((word, i) => {
      const whole = normalisePasskey(word, alphabet);
      if (isPasskeyShaped(whole, alphabet, length)) found.add(whole);
      const next = words[i + 1];
      if (word.length === 4 && next?.length === 4) {
        const joined = normalisePasskey(word + next, alphabet);
        if (/[0-9]/.test(word + next) && isPasskeyShaped(joined, alphabet, length)) found.add(joined);
      }
    });
  }
  return [...found];
}

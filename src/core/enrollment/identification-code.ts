import { randomBytes } from 'node:crypto';

// The card's identification code N (docs/enrollment.md): 12 characters drawn from the operating
// system's CSPRNG, then one check character. Nothing about the customer or the account goes in,
// so N reveals nothing and cannot be guessed from account data. Uniqueness is the database's
// job (cards.n UNIQUE): the enrollment draws again on a collision.
//
// The alphabet has 31 symbols — a prime — so a weighted sum modulo 31 with pairwise distinct
// non-zero weights catches every single-character substitution and every transposition of two
// characters (adjacent or not): a substitution changes the sum by w·(a−b), a transposition by
// (wi−wj)·(a−b), and neither product is 0 mod a prime when both factors are non-zero mod it.

/** Crockford's base-32 letters (no I, L, O, U) without Z, which handwriting confuses with 2. */
export const N_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXY';
const P = N_ALPHABET.length; // 31, prime
export const N_DATA_LENGTH = 12;
export const N_LENGTH = N_DATA_LENGTH + 1;

/** Weight of each position, data first then the check character: 13 … 2, then 1 — all distinct mod 31. */
const WEIGHTS = Array.from({ length: N_LENGTH }, (_, i) => N_LENGTH - i);

function valueOf(c: string): number {
  return N_ALPHABET.indexOf(c);
}

/** The check character for 12 data characters: makes Σ wᵢ·vᵢ ≡ 0 (mod 31) over all 13. */
export function checkCharacter(data: string): string {
  if (data.length !== N_DATA_LENGTH || [...data].some((c) => valueOf(c) < 0)) {
    throw new RangeError('N data must be 12 characters of the N alphabet');
  }
  let sum = 0;
  for (let i = 0; i < N_DATA_LENGTH; i++) sum += WEIGHTS[i]! * valueOf(data[i]!);
  // The check character's weight is 1, so it is simply the negated sum.
  return N_ALPHABET[(P - (sum % P)) % P]!;
}

/** True for a well-formed N whose check character matches. Expects the normalised form. */
export function isValidN(n: string): boolean {
  if (n.length !== N_LENGTH) return false;
  let sum = 0;
  for (let i = 0; i < N_LENGTH; i++) {
    const v = valueOf(n[i]!);
    if (v < 0) return false;
    sum += WEIGHTS[i]! * v;
  }
  return sum % P === 0;
}

/**
 * N as a person may type or read it aloud: any case, spaces or dashes between groups, and the
 * letters O/I/L for the digits they look like (they are not in the alphabet, so no ambiguity).
 */
export function normaliseN(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

/** N for print and screen: four groups of 4-4-4-1, e.g. `7KQ2-M9XD-3TAB-R`. */
export function formatN(n: string): string {
  return `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`;
}

/**
 * A fresh N from `random` (the CSPRNG by default). Rejection sampling keeps every symbol equally
 * likely: only bytes below 248 = 8·31 are used, each taken mod 31.
 */
export function generateN(random: (size: number) => Buffer = randomBytes): string {
  let data = '';
  while (data.length < N_DATA_LENGTH) {
    for (const b of random(16)) {
      if (b < 248 && data.length < N_DATA_LENGTH) data += N_ALPHABET[b % P]!;
    }
  }
  return data + checkCharacter(data);
}

import { createHash, createPublicKey } from 'node:crypto';
import type { KeyRef, ListSealMode, RsaPublicKeyBytes } from '../card/card-key-port';
import { rsaPublicKeyFrom } from '../card/protocol/list-envelope';
import type { CardRecord } from '../cards/card.repository';
import { AppError } from '../errors';

// Which key a card's next list is sealed for (docs/push.md, "Public-key mode"), named as the
// keystore names it in a list's `sealed_for` (`card:<N>` or `rsa:<SHA-256 of the SPKI>`), so the
// push can tell a list sealed for the card's current key from one sealed for a key it left.

/** RSA-2048 with e = 65537 (docs/card-profile.md 1, 9.4): anything else did not come from an OTAC card. */
const EXPONENT_65537 = '010001';

/** The card's GENERATE KEY PAIR answer as the hex DER SubjectPublicKeyInfo kept on record; refuses a key off profile. */
export function recordablePublicKey(pk: RsaPublicKeyBytes): string {
  const exponent = pk.exponent.toString('hex').replace(/^(00)+/, '');
  if (pk.modulus.length !== 256 || ((pk.modulus[0] ?? 0) & 0x80) === 0 || exponent !== EXPONENT_65537) {
    throw new AppError(
      'CARD_KEY_PAIR_INVALID',
      'The card answered with a key that is not an RSA-2048 key with exponent 65537, so it is not kept. The card stays in card-key mode; if it repeats, the card is not a genuine OTAC card.',
    );
  }
  return rsaPublicKeyFrom(pk.modulus, pk.exponent).export({ type: 'spki', format: 'der' }).toString('hex');
}

/** Modulus and exponent of a recorded key, as the keystore port takes them. */
export function publicKeyBytes(spkiHex: string): RsaPublicKeyBytes {
  const jwk = createPublicKey({ key: Buffer.from(spkiHex, 'hex'), format: 'der', type: 'spki' }).export({
    format: 'jwk',
  });
  return { modulus: Buffer.from(jwk.n ?? '', 'base64url'), exponent: Buffer.from(jwk.e ?? '', 'base64url') };
}

export function publicKeyDigest(spkiHex: string): string {
  return createHash('sha256').update(Buffer.from(spkiHex, 'hex')).digest('hex');
}

/** What the card page and the audit show of a key: the first 16 hex digits of its digest. */
export function publicKeyFingerprint(spkiHex: string): string {
  return publicKeyDigest(spkiHex).slice(0, 16);
}

/** The `sealed_for` name of the key the card's lists go to now. */
export function currentSealName(card: CardRecord): string {
  if (card.sealMode === 'card-key') return `card:${card.n}`;
  if (card.publicKey === null) {
    throw new AppError(
      'PUSH_NO_PUBLIC_KEY',
      `Card ${card.n} is set to public-key mode but no key of it is on record. A manager chooses "Use public-key mode" on the card page again, with the card in the reader.`,
    );
  }
  return `rsa:${publicKeyDigest(card.publicKey)}`;
}

/**
 * The seal for the card's next list in its mode, for every path a list leaves by (the push at the
 * desk, the remote refill package): K's handle from the port, or the public key on record.
 * `cardKey` is the caller's to release.
 */
export async function listSealFor(
  card: CardRecord,
  port: { cardKey(n: string): Promise<KeyRef> },
  keyVersion: number,
): Promise<{ seal: ListSealMode; cardKey: KeyRef | null }> {
  const name = currentSealName(card); // refuses public-key mode without a key on record
  if (name.startsWith('rsa:') && card.publicKey !== null) {
    return { seal: { mode: 'public-key', cardPublicKey: publicKeyBytes(card.publicKey) }, cardKey: null };
  }
  const cardKey = await port.cardKey(card.n);
  return { seal: { mode: 'card-key', cardKey, keyVersion }, cardKey };
}

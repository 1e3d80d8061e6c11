import { CR_WITH_CARD_KEY, CR_WITH_CODE } from './profile.constants';

// What the card MACs for CHALLENGE RESPONSE (profile section 8.6), under the challenge key
// derived from the card key. Shared by the card and the issuer-side verification.

export function codeChallengeMessage(cardId: Buffer, index: number, challenge: Buffer, code: string): Buffer {
  const idx = Buffer.alloc(2);
  idx.writeUInt16BE(index);
  return Buffer.concat([Buffer.from([CR_WITH_CODE]), cardId, idx, challenge, Buffer.from(code, 'latin1')]);
}

export function cardKeyChallengeMessage(cardId: Buffer, challenge: Buffer): Buffer {
  return Buffer.concat([Buffer.from([CR_WITH_CARD_KEY]), cardId, challenge]);
}

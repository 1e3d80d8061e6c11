import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KeyRef } from '../../../src/core/card/card-key-port';
import type { CardRecord } from '../../../src/core/cards/card.repository';
import { currentSealName, listSealFor, publicKeyDigest, recordablePublicKey } from '../../../src/core/push/seal-target';
import { rsaPublicKeyBytes } from '../../support/list-envelopes';

// The one decision of which key a card's next list is sealed for (docs/push.md, "Public-key
// mode"): K in card-key mode, the recorded key in public-key mode, and never K by default when a
// card in public-key mode has no key on record.

const card = (over: Partial<CardRecord>): CardRecord => ({
  id: 1,
  cardId: '0102030405060708',
  customerId: 1,
  n: 'N-1',
  sealMode: 'card-key',
  state: 'active',
  enrolledAt: 't',
  enrolledBy: 'u',
  activatedAt: 't',
  stateChangedAt: 't',
  version: 1,
  publicKey: null,
  publicKeyAt: null,
  ...over,
});

describe('the seal for a card’s next list', () => {
  const asked: string[] = [];
  const port = {
    cardKey: async (n: string): Promise<KeyRef> => {
      asked.push(n);
      return { keyId: `card:${n}` };
    },
  };

  it('is K in card-key mode, named as the keystore names it', async () => {
    const c = card({});
    expect(currentSealName(c)).toBe('card:N-1');
    const { seal, cardKey } = await listSealFor(c, port, 3);
    expect(seal).toEqual({ mode: 'card-key', cardKey: { keyId: 'card:N-1' }, keyVersion: 3 });
    expect(cardKey).toEqual({ keyId: 'card:N-1' });
  });

  it('is the recorded key in public-key mode, and K is not even asked for', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const spki = recordablePublicKey(rsaPublicKeyBytes(key));
    const c = card({ sealMode: 'public-key', publicKey: spki });
    expect(currentSealName(c)).toBe(`rsa:${publicKeyDigest(spki)}`);
    asked.length = 0;
    const { seal, cardKey } = await listSealFor(c, port, 3);
    expect(cardKey).toBeNull();
    expect(asked).toEqual([]);
    expect(seal).toEqual({ mode: 'public-key', cardPublicKey: rsaPublicKeyBytes(key) });
  });

  it('refuses public-key mode with no key on record rather than falling back to K', async () => {
    const c = card({ sealMode: 'public-key', publicKey: null });
    expect(() => currentSealName(c)).toThrow(expect.objectContaining({ code: 'PUSH_NO_PUBLIC_KEY' }));
    await expect(listSealFor(c, port, 3)).rejects.toMatchObject({ code: 'PUSH_NO_PUBLIC_KEY' });
  });
});

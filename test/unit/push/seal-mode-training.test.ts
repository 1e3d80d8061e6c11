import { deskSql } from '../../support/test-engine';
import { afterEach, describe, expect, it } from 'vitest';
import { newBlankCard } from '../../../src/card-sim/card-record';
import { VirtualCard } from '../../../src/card-sim/virtual-card';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { TRAINING_READER_NAME, TrainingReaderService } from '../../../src/core/card/training-reader';
import { parseMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { SealModeService } from '../../../src/core/push/seal-mode.service';
import { cardDesk, personaliseAwaiting } from '../../support/activation-cards';
import { publicKeyOnCard } from '../../support/list-envelopes';

// The seal-mode service on the in-process training reader (the same VirtualCard as in pcscd): two
// requests for one card at once, and a locked keystore — each refused with nothing changed, the
// key on record always the one the card holds.

const reader = TRAINING_READER_NAME;
const actor = { operatorId: 7, operator: 'maria', role: 'manager' as const };

describe('seal mode on the training reader', () => {
  let dispose: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await dispose?.();
    dispose = null;
  });

  const setUp = async () => {
    const desk = await cardDesk('training');
    dispose = desk.dispose;
    const training = desk.ws.readers as TrainingReaderService;
    const virtual = new VirtualCard(newBlankCard());
    training.insert(virtual);
    const awaiting = await personaliseAwaiting(desk.ws, reader);
    const parsed = parseMailerKey(awaiting.mailerKey);
    if (!parsed.ok) throw new Error('mailer key does not parse');
    await training.withCard(reader, async (t) => {
      const c = new OtacCard(t);
      await c.select();
      await c.activate(parsed.key, '2468');
    });
    const cards = deskSql(desk.ws).repos.cards;
    const record = (await cards.transition(awaiting.record.id, ['awaiting_activation'], 'active', 'now'))!;
    const service = new SealModeService({
      readers: training,
      keystore: desk.ws.keystore,
      cards,
      audit: deskSql(desk.ws).audit,
      atomically: deskSql(desk.ws).repos.atomically,
    });
    const keyOnCard = () => publicKeyOnCard(virtual.record.rsa);
    return { desk, cards, record, service, keyOnCard };
  };

  it('two requests for the same card at once: one proves a key, the other is refused; record and card agree', async () => {
    const { cards, record, service, keyOnCard } = await setUp();
    const results = await Promise.allSettled([
      service.setSealMode(reader, 'public-key', actor),
      service.setSealMode(reader, 'public-key', actor),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected');
    expect(refused?.reason).toMatchObject({ code: 'CARD_BUSY' });
    const now = await cards.byId(record.id);
    expect(now).toMatchObject({ sealMode: 'public-key', version: record.version + 1 });
    expect(now?.publicKey).toBe(keyOnCard());
  });

  it('a locked keystore refuses before the card or the record is touched', async () => {
    const { desk, cards, record, service, keyOnCard } = await setUp();
    await service.setSealMode(reader, 'public-key', actor);
    const before = await cards.byId(record.id);
    const key = keyOnCard();
    await desk.ws.keystore.lock(null);
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'accepted',
        (e: unknown) => (e as { code?: string }).code,
      );
    expect(await codeOf(service.setSealMode(reader, 'public-key', actor))).toMatch(/LOCKED/);
    expect(await cards.byId(record.id)).toEqual(before);
    expect(keyOnCard()).toBe(key);
    expect(await codeOf(service.setSealMode(reader, 'card-key', actor))).toMatch(/LOCKED/);
    expect(await cards.byId(record.id)).toEqual(before);
  });
});

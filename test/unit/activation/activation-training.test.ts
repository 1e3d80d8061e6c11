import { afterEach, describe, expect, it } from 'vitest';
import { newBlankCard } from '../../../src/card-sim/card-record';
import { VirtualCard } from '../../../src/card-sim/virtual-card';
import { ActivationService } from '../../../src/core/activation/activation.service';
import type { Session } from '../../../src/core/auth/session.store';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { TRAINING_READER_NAME, TrainingReaderService } from '../../../src/core/card/training-reader';
import { deskSql } from '../../support/test-engine';
import { createLogger } from '../../../src/core/log';
import { cardDesk, personaliseAwaiting } from '../../support/activation-cards';
import { addOperator, approvalFor, approvalOf, value } from '../../support/operators';

// The activation service on the in-process training reader (the same VirtualCard as in pcscd):
// the afterActivation seam, concurrent activations of one card, and unblocking a card blocked
// by wrong PINs after activation, with a new PIN.

const reader = TRAINING_READER_NAME;

describe('activation service on the training reader', () => {
  let dispose: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await dispose?.();
    dispose = null;
  });

  const setUp = async () => {
    const desk = await cardDesk('training');
    dispose = desk.dispose;
    const training = desk.ws.readers as TrainingReaderService;
    training.insert(new VirtualCard(newBlankCard()));
    const awaiting = await personaliseAwaiting(desk.ws, reader);
    const session: Session = {
      operatorId: desk.officer.id,
      username: desk.officer.username,
      displayName: 'Sofia Officer',
      role: 'security_officer',
      mustChangePassword: false,
      lastActivity: 0,
    };
    const service = new ActivationService({
      readers: training,
      keystore: desk.ws.keystore,
      cards: deskSql(desk.ws).repos.cards,
      customers: deskSql(desk.ws).repos.customers,
      dualControl: { require: async () => null },
      audit: deskSql(desk.ws).audit,
      atomically: deskSql(desk.ws).repos.atomically,
      log: createLogger(null),
    });
    return { desk, awaiting, session, service, training };
  };

  it('runs what is connected after activation, in order; a failing step is reported and never undoes the activation', async () => {
    const { awaiting, session, service, desk } = await setUp();
    const seen: string[] = [];
    service.afterActivation('first list', async (card) => {
      seen.push(`list for ${card.n} (${card.cardId}) by ${card.actor.operator}`);
      return { message: 'First list pushed.' };
    });
    const off = service.afterActivation('broken', async () => {
      throw new Error('push failed');
    });
    const r = await service.activate({ reader, key: awaiting.mailerKey, pin: '2468', pinRepeat: '2468' }, session);
    expect(seen).toEqual([`list for ${awaiting.record.n} (${awaiting.record.cardId}) by ${desk.officer.username}`]);
    expect(r.followUps).toEqual([
      { name: 'first list', ok: true, message: 'First list pushed.' },
      { name: 'broken', ok: false, message: expect.stringMatching(/next presentation/) as string },
    ]);
    expect(r.state).toBe('active');
    expect((await deskSql(desk.ws).repos.cards.byId(awaiting.record.id))?.state).toBe('active');
    off();
    const again = await service.activate({ reader, key: awaiting.mailerKey, pin: '2468', pinRepeat: '2468' }, session);
    expect(again.followUps.map((f) => f.name)).toEqual(['first list']);
    expect(again.completedEarlier).toBe(true);
  });

  it('two activations of one card at once: one ACTIVATE reaches the card, card and record agree', async () => {
    const { awaiting, session, service, desk } = await setUp();
    const input = { reader, key: awaiting.mailerKey, pin: '2468', pinRepeat: '2468' };
    const results = await Promise.allSettled([service.activate(input, session), service.activate(input, session)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'CARD_BUSY' });
      else expect(r.value.state).toBe('active');
    }
    expect((await deskSql(desk.ws).repos.cards.byId(awaiting.record.id))?.state).toBe('active');
    const view = await service.inReader(reader, session);
    expect(view).toMatchObject({ card: { lifeCycle: 'active', activationTriesLeft: 5 }, nextAction: 'rotate' });
  });

  it('a card blocked by wrong PINs after activation is unblocked with a new PIN, under dual control through the contract', async () => {
    const { awaiting, desk, training } = await setUp();
    const ws = desk.ws;
    const clerk = await addOperator(ws, 'clerk');
    const manager = await addOperator(ws, 'manager');
    const approver = await addOperator(ws, 'security_officer');
    value(
      await ws.router.dispatch(clerk.client, 'activation:activate', {
        reader,
        key: awaiting.mailerKey,
        pin: '2468',
        pinRepeat: '2468',
      }),
    );
    await training.withCard(reader, async (t) => {
      const card = new OtacCard(t);
      await card.select();
      for (let i = 0; i < 3; i++) await card.verifyPin('0000').catch(() => undefined);
      expect((await card.getState()).lifeCycle).toBe('blocked');
    });
    const view = value(await ws.router.dispatch(clerk.client, 'cards:inReader', { reader })) as { nextAction: string };
    expect(view.nextAction).toBe('unblock');

    const badPin = await ws.router.dispatch(manager.client, 'activation:unblock', { reader, newPin: '12ab' });
    expect(badPin).toMatchObject({ ok: false, error: { code: 'PIN_FORMAT' } });
    const r = value(
      await ws.router.dispatch(manager.client, 'activation:unblock', {
        reader,
        newPin: '97531',
        approval: await approvalFor(ws, manager, 'card.unblock', approvalOf(approver)),
      }),
    );
    expect(r).toMatchObject({ state: 'active', approvedBy: approver.username });
    await training.withCard(reader, async (t) => {
      const card = new OtacCard(t);
      await card.select();
      await card.verifyPin('97531');
      expect((await card.getState()).pinTriesLeft).toBe(3);
    });
  });

  it('with the keystore locked the card page still shows the card; activation waits for the keystore and costs no try', async () => {
    const { awaiting, desk } = await setUp();
    const clerk = await addOperator(desk.ws, 'clerk');
    await desk.ws.keystore.lock(null);
    const view = value(await desk.ws.router.dispatch(clerk.client, 'cards:inReader', { reader }));
    expect(view).toMatchObject({ nextAction: 'activate', card: { lifeCycle: 'personalised', activationTriesLeft: 5 } });
    const r = await desk.ws.router.dispatch(clerk.client, 'activation:activate', {
      reader,
      key: awaiting.mailerKey,
      pin: '2468',
      pinRepeat: '2468',
    });
    expect(r).toMatchObject({ ok: false, error: { code: 'KEYSTORE_LOCKED' } });
    expect(value(await desk.ws.router.dispatch(clerk.client, 'cards:inReader', { reader }))).toMatchObject({
      card: { activationTriesLeft: 5 },
    });
  });
});

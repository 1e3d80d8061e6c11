import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InsertedCard } from '../../../src/card-sim/slots';
import { ActivationService } from '../../../src/core/activation/activation.service';
import type { Session } from '../../../src/core/auth/session.store';
import { PcscReaderService } from '../../../src/core/card/reader.service';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import { createLogger } from '../../../src/core/log';
import { cardDesk, personaliseAwaiting, withRetry } from '../../support/activation-cards';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import { deskSql } from '../../support/test-engine';

// The tear test for activation and rotation: the card is taken away at every APDU position of each
// flow — once before the command reaches it, once after it has acted but before its answer comes
// back. Afterwards the next presentation makes card and database agree, and a retry finishes the job.

type Mode = 'before' | 'after';

describe('tearing the card out of activation and rotation (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let desk: Awaited<ReturnType<typeof cardDesk>>;
  let pcsc: PcscReaderService;
  let service: ActivationService;
  let session: Session;
  let reader: string;
  let inserted: InsertedCard | undefined;
  /** When set: the APDU number (1-based) of the next withCard at which the card goes, and how. */
  let tear: { at: number; mode: Mode } | null = null;
  let counted = 0;

  // The reader service the workflow sees: the real one, with the card pulled at the chosen APDU.
  const tearing: CardReaderService = {
    start: () => pcsc.start(),
    stop: () => pcsc.stop(),
    onEvent: (l) => pcsc.onEvent(l),
    snapshot: () => pcsc.snapshot(),
    withCard: (name, fn, options) =>
      pcsc.withCard(
        name,
        (t, info) => {
          let n = 0;
          const plan = tear;
          tear = null;
          counted = 0;
          return fn(
            {
              async transmit(apdu: Buffer): Promise<Buffer> {
                n++;
                counted = n;
                if (plan && n === plan.at) {
                  if (plan.mode === 'before') await bed.remove(0);
                  else {
                    const pid = inserted?.pid ?? 0;
                    // The card acts and persists at once, then holds its answer 400 ms: it dies in between.
                    setTimeout(() => process.kill(pid, 'SIGKILL'), 150);
                  }
                }
                return t.transmit(apdu);
              },
            },
            info,
          );
        },
        options,
      ),
  };

  const insert = async (card: TestCard, slow = false): Promise<void> => {
    await bed.remove(0);
    await eventually(() => !pcsc.snapshot().readers.some((r) => r.name === reader && r.cardPresent), 'slot empty');
    // Right after a card was killed, vpcd may still be closing its link: a second insert then holds.
    for (let attempt = 1; ; attempt++) {
      try {
        inserted = await bed.insert(card.file, 0, slow ? { responseDelayMs: 400 } : {});
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
        await bed.remove(0);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    }
    await eventually(
      () => pcsc.snapshot().readers.some((r) => r.name === reader && r.cardPresent && r.condition === 'ready'),
      'card ready',
    );
  };

  const cards = () => deskSql(desk.ws).repos.cards;

  /** Card and database agree: the record's state is the card's, the keystore's key series the card's key version. */
  const expectAgree = async (card: TestCard, id: number, n: string): Promise<void> => {
    const onCard = readCard(card);
    const want = { personalised: 'awaiting_activation', active: 'active', blocked: 'blocked' }[
      onCard.lifeCycle as 'personalised' | 'active' | 'blocked'
    ];
    expect((await cards().byId(id))?.state).toBe(want);
    expect((await desk.ws.keystore.current().cardKeyState(n)).sn).toBe(onCard.keyVersion);
  };

  beforeAll(async () => {
    bed = await useTestbed('activation-tear');
    reader = bed.readerName(0);
    desk = await cardDesk('none');
    pcsc = new PcscReaderService({ timeoutMs: 3000 });
    pcsc.start();
    await eventually(() => pcsc.snapshot().readers.length === 2, 'both vpcd readers', 10_000);
    session = {
      operatorId: desk.officer.id,
      username: desk.officer.username,
      displayName: 'Sofia Officer',
      role: 'security_officer',
      mustChangePassword: false,
      lastActivity: 0,
    };
    service = new ActivationService({
      readers: tearing,
      keystore: desk.ws.keystore,
      cards: deskSql(desk.ws).repos.cards,
      customers: deskSql(desk.ws).repos.customers,
      dualControl: { require: async () => null },
      audit: deskSql(desk.ws).audit,
      atomically: deskSql(desk.ws).repos.atomically,
      log: createLogger(null),
    });
  });

  afterAll(async () => {
    await pcsc?.stop();
    await desk?.dispose();
    await bed?.close();
  });

  const awaitingCard = async () => {
    const card = createTestCard(bed.cardDir);
    await insert(card);
    const awaiting = await personaliseAwaiting(desk.ws, reader, { readers: pcsc });
    return { card, awaiting };
  };

  const activate = (key: string) => service.activate({ reader, key, pin: '2468', pinRepeat: '2468' }, session);

  it('activation: at every APDU position, before and after the card acts', async () => {
    // A clean run counts the flow's APDUs.
    const clean = await awaitingCard();
    await activate(clean.awaiting.mailerKey);
    const positions = counted;
    expect(positions).toBeGreaterThanOrEqual(3);

    const outcomes: string[] = [];
    for (let at = 1; at <= positions; at++) {
      for (const mode of ['before', 'after'] as const) {
        const { card, awaiting } = await awaitingCard();
        if (mode === 'after') await insert(card, true);
        tear = { at, mode };
        const err = await activate(awaiting.mailerKey).catch((e: unknown) => e);
        expect(err, `torn at APDU ${at} (${mode})`).toMatchObject({ code: expect.stringMatching(/^CARD_/) as string });
        const acted = readCard(card).lifeCycle;
        outcomes.push(`${at}/${mode}: ${acted}`);

        // Next presentation: the card page's read brings the record in line with the card.
        await insert(card);
        await withRetry(() => service.inReader(reader, session));
        await expectAgree(card, awaiting.record.id, awaiting.record.n);
        // The retry succeeds, whether the torn attempt had activated the card or not.
        const retry = await withRetry(() => activate(awaiting.mailerKey));
        expect(retry).toMatchObject({ state: 'active' });
        expect(readCard(card).lifeCycle).toBe('active');
        expect(readCard(card).activationTriesLeft).toBe(5);
        await expectAgree(card, awaiting.record.id, awaiting.record.n);
      }
    }
    // The ACTIVATE torn after the card acted is the case that matters: it did happen at least once.
    expect(outcomes).toContain(`${positions}/after: active`);
    expect(outcomes).toContain(`${positions}/before: personalised`);
  }, 240_000);

  it('rotation: at every APDU position the card key and the keystore agree, and a retry finishes the change', async () => {
    const clean = await awaitingCard();
    await activate(clean.awaiting.mailerKey);
    await service.rotateKey({ reader }, session);
    const positions = counted;
    expect(positions).toBeGreaterThanOrEqual(6);

    const outcomes: string[] = [];
    for (let at = 1; at <= positions; at++) {
      for (const mode of ['before', 'after'] as const) {
        const { card, awaiting } = await awaitingCard();
        await activate(awaiting.mailerKey);
        if (mode === 'after') await insert(card, true);
        tear = { at, mode };
        const err = await service.rotateKey({ reader }, session).catch((e: unknown) => e);
        expect(err, `torn at APDU ${at} (${mode})`).toMatchObject({ code: expect.stringMatching(/^CARD_/) as string });
        const torn = readCard(card).keyVersion;
        outcomes.push(`${at}/${mode}: v${torn}`);

        // The retry is the next presentation: it finishes a rotation the card had already made
        // (proved by a session under K'), or makes it now; either way one rotation, 1 → 2.
        await insert(card);
        const retry = await withRetry(() => service.rotateKey({ reader }, session));
        expect(retry).toMatchObject({ fromVersion: 1, toVersion: 2, recovered: torn === 2 });
        expect(readCard(card).keyVersion).toBe(2);
        await expectAgree(card, awaiting.record.id, awaiting.record.n);
        expect((await desk.ws.keystore.current().cardKeyState(awaiting.record.n)).pendingSn).toBeNull();
      }
    }
    // Torn after ROTATE KEY acted: the card holds K' and the keystore learned it at the next presentation.
    expect(outcomes.filter((o) => o.endsWith('v2')).length).toBeGreaterThan(0);
  }, 400_000);
});

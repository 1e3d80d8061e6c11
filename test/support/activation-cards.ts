import { randomBytes } from 'node:crypto';
import { newBlankCard } from '../../src/card-sim/card-record';
import { VirtualCard } from '../../src/card-sim/virtual-card';
import { TRAINING_READER_NAME, TrainingReaderService } from '../../src/core/card/training-reader';
import { OtacCard } from '../../src/core/card/protocol/card-session';
import type { ReaderMode } from '../../src/core/card/reader-setup';
import type { CardReaderService } from '../../src/core/card/reader.types';
import type { CardRecord } from '../../src/core/cards/card.repository';
import { formatMailerKey } from '../../src/core/crypto/mailer-key-format';
import { KeystoreCardKeyPort } from '../../src/core/keystore/keystore-card-key-port';
import type { DeskWorkstation } from '../../src/core/workstation';
import { cardRow } from './cards';
import { freshWorkstation } from './fresh-workstation';
import { deskSql } from './test-engine';
import { addOperator, setupOfficer, value, type TestOperator } from './operators';
import { keystoreReadyToEnroll } from './enrollment';

// A card awaiting activation without the enrollment feature: the test personalises a blank card
// through the protocol and keystore calls enrollment will use, and writes the customer and card
// rows through the repositories. The mailer's K comes from the keystore's one clear exit.

export const CHEAP_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

/** A workstation whose keystore is ready to personalise cards: MK, bank CA, issuer key, vendor transport key. */
export async function cardDesk(readers: ReaderMode): Promise<{
  ws: DeskWorkstation;
  officer: TestOperator;
  secondOfficer: TestOperator;
  dataDir: string;
  dispose: () => Promise<void>;
}> {
  const { ws, dataDir, dispose } = await freshWorkstation({ readers, keystoreScryptCost: CHEAP_SCRYPT });
  const officer = await setupOfficer(ws);
  const secondOfficer = await addOperator(ws, 'security_officer');
  await prepareKeystore(ws, officer, secondOfficer);
  return {
    ws,
    officer,
    secondOfficer,
    dataDir,
    dispose,
  };
}

export async function prepareKeystore(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
): Promise<void> {
  await keystoreReadyToEnroll(ws, officer, approver); // master key, bank CA, the vendor's transport key
  value(await ws.router.dispatch(officer.client, 'keys:createIssuerKey', { commonName: 'Test Issuer' }));
}

let serial = 0;

export interface AwaitingCard {
  readonly record: CardRecord;
  readonly customerName: string;
  /** K as printed on the mailer (groups with check characters). */
  readonly mailerKey: string;
}

/**
 * Personalises the blank card in `reader` for a new customer (N, K version 1, 3 PIN tries,
 * `activationTries` activation tries) and records both in the database in state awaiting_activation.
 */
export async function personaliseAwaiting(
  ws: DeskWorkstation,
  reader: string,
  opts: { activationTries?: number; customerName?: string; readers?: CardReaderService } = {},
): Promise<AwaitingCard> {
  const readers = opts.readers ?? (ws.readers as CardReaderService);
  const ks = ws.keystore.current();
  const n = `N${Date.now() % 1_000_000}${++serial}`.padEnd(10, '7');
  const customerName = opts.customerName ?? `Ada Lovelace ${serial}`;
  const cardId = await withRetry(() =>
    readers.withCard(reader, async (t) => {
      const card = new OtacCard(t);
      const info = await card.select();
      const port = new KeystoreCardKeyPort(ks);
      const cardIdBytes = Buffer.from(info.cardId, 'hex');
      const transport = await port.transportKey(cardIdBytes);
      const sm = await card.openSecureChannel(port, transport, 0);
      await sm.personalise({
        n,
        cardKey: await port.cardKey(n),
        keyVersion: 1,
        caPublicKey: (await ks.caPublicKey()).uncompressedPoint,
        pinTries: 3,
        activationTries: opts.activationTries ?? 5,
      });
      await port.release(transport);
      return info.cardId.toUpperCase();
    }),
  );
  const { card: record } = await cardRow(deskSql(ws).repos, {
    cardId,
    n,
    state: 'awaiting_activation',
    customer: {
      fullName: customerName,
      birthDate: '1815-12-10',
      address: { line1: '12 St James Square', line2: null, postalCode: 'SW1Y 4JH', city: 'London', country: 'GB' },
      branch: 'Main',
    },
  });
  const mailer = await ks.formatCustomerKeyForMailer(n, { operator: 'mia', role: 'manager', reason: 'initial mailer' });
  return { record, customerName, mailerKey: mailer.formatted };
}

/** The reader monitor reads each inserted card once; our own call may meet it: wait and retry. */
export async function withRetry<T>(fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (i >= attempts || (code !== 'CARD_BUSY' && code !== 'CARD_ABSENT' && code !== 'CARD_REMOVED')) throw err;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
}

/** The router's answer, waiting out the reader monitor's own read of the card (CARD_BUSY). */
export function dispatchWhenFree(ws: DeskWorkstation, op: TestOperator, channel: string, input: unknown) {
  return withRetry(async () => {
    const r = await ws.router.dispatch(op.client, channel, input);
    if (!r.ok && r.error.code === 'CARD_BUSY') throw Object.assign(new Error('busy'), { code: 'CARD_BUSY' });
    return r;
  });
}

/** The card in `reader`, selected, handed to `fn` (waiting out the monitor's own read). */
export function onCardIn<T>(
  readers: CardReaderService,
  reader: string,
  fn: (card: OtacCard) => Promise<T>,
): Promise<T> {
  return withRetry(() =>
    readers.withCard(reader, async (t) => {
      const card = new OtacCard(t);
      await card.select();
      return fn(card);
    }),
  );
}

/** What the cardholder reads off the card: VERIFY PIN, then NEXT CODE. */
export function nextCodeIn(readers: CardReaderService, reader: string, pin: string) {
  return onCardIn(readers, reader, async (card) => {
    await card.verifyPin(pin);
    return card.nextCode();
  });
}

/** A typo a group check catches: one character of group 3 replaced by another from the alphabet. */
export function withTypo(mailerKey: string): string {
  const groups = mailerKey.split('-');
  const g = groups[2] ?? '';
  const first = g[0] === '0' ? '1' : '0';
  groups[2] = first + g.slice(1);
  return groups.join('-');
}

/** A well-formed key (every check character right) that is not the card's K. */
export function otherKey(): string {
  return formatMailerKey(randomBytes(16));
}

/**
 * The training reader (in-process, no pcscd) with a blank card from stock personalised for a new
 * customer: for contract-level tests that need a card but not the PC/SC test bed.
 */
export async function awaitingTrainingCard(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
  activationTries = 5,
): Promise<{ reader: string; awaiting: AwaitingCard }> {
  await prepareKeystore(ws, officer, approver);
  const training = ws.readers;
  if (!(training instanceof TrainingReaderService)) throw new Error('this workstation needs readers: training');
  training.insert(new VirtualCard(newBlankCard()));
  const awaiting = await personaliseAwaiting(ws, TRAINING_READER_NAME, { activationTries });
  return { reader: TRAINING_READER_NAME, awaiting };
}

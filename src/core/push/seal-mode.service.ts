import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import { OtacCard } from '../card/protocol/card-session';
import type { CardReaderService } from '../card/reader.types';
import type { CardRecord, CardRepository, SealMode, SealTarget } from '../cards/card.repository';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import { KeystoreCardKeyPort } from '../keystore/keystore-card-key-port';
import type { Keystore } from '../keystore/keystore.types';
import { INTERRUPTIONS } from './push.service';
import { publicKeyFingerprint, recordablePublicKey } from './seal-target';

// Public-key mode chosen per card at the desk (docs/push.md, "Public-key mode"; profile 7.3, 9.4).
// The card makes its own RSA key pair (GENERATE KEY PAIR under secure messaging under K); its
// answer is R-MACed, so the key on record is one this very card proved — never one a caller or the
// wire supplied. Order of the steps, so that a card pulled anywhere leaves card and database in
// agreement: a card already in public-key mode is first put back to card-key mode (which every
// card accepts: it always holds K), then the card generates, then the proven key is recorded with
// the mode in one compare-and-set. A card pulled before that last step keeps a key pair the desk
// never saw and stays in card-key mode; the next attempt simply generates again.

export interface SealModeResult {
  readonly cardId: string;
  readonly n: string;
  readonly sealMode: SealMode;
  readonly keyFingerprint: string | null;
}

export interface SealModeDeps {
  readonly readers: CardReaderService | null;
  readonly keystore: { run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T };
  readonly cards: CardRepository;
  readonly audit: Pick<AuditTrail, 'append'>;
  /** The card's seal mode and its entry commit together (repositories.ts). */
  readonly atomically: Atomically;
  readonly now?: () => Date;
}

export class SealModeService {
  constructor(private readonly deps: SealModeDeps) {}

  /** Sets the seal mode of the active card in `reader`: 'public-key' always has the card make a fresh key pair. */
  async setSealMode(reader: string, mode: SealMode, actor: KeystoreActor): Promise<SealModeResult> {
    const readers = this.deps.readers;
    if (!readers) {
      throw new AppError(
        'READER_UNAVAILABLE',
        'This workstation runs without a card reader. Use a desk with a reader.',
      );
    }
    let seen: CardRecord | null = null;
    try {
      // The keystore first: a locked keystore refuses before the card or the record is touched.
      const record = await this.deps.keystore.run(actor, (ks) =>
        readers.withCard(reader, async (t) => {
          const card = new OtacCard(t);
          await card.select();
          const state = await card.getState();
          const found = await this.deps.cards.byCardId(state.cardId.toUpperCase());
          if (!found) {
            throw new AppError(
              'CARD_NOT_ENROLLED',
              'This card is not enrolled at this desk. Check that it is the customer’s card, or ask support.',
            );
          }
          seen = found;
          if (state.n !== undefined && state.n !== found.n) {
            throw new AppError(
              'CARD_MISMATCH',
              'The card in the reader does not match its enrollment record. Set it aside and ask support.',
            );
          }
          if (found.state !== 'active' || state.lifeCycle !== 'active') {
            throw new AppError(
              'SEAL_MODE_CARD_NOT_ACTIVE',
              `Card ${found.n} is not active (${found.state.replace('_', ' ')}). Activate it first; the seal mode is chosen for an active card.`,
            );
          }
          if (mode === 'card-key') {
            if (found.sealMode === 'card-key' && found.publicKey === null) return found;
            return this.record(found, { mode: 'card-key' }, actor, 'switched back');
          }
          const port = new KeystoreCardKeyPort(ks);
          const cardKey = await port.cardKey(found.n);
          // No list may go on being sealed for a key pair the card is about to replace.
          const base =
            found.sealMode === 'public-key' || found.publicKey !== null
              ? await this.record(found, { mode: 'card-key' }, actor, 'new key pair requested')
              : found;
          let proven;
          try {
            const sm = await card.openSecureChannel(port, cardKey, state.keyVersion);
            proven = await sm.generateKeyPair(); // the R-MAC is checked inside the keystore
          } finally {
            await port.release(cardKey).catch(() => undefined);
          }
          return this.record(
            base,
            { mode: 'public-key', publicKey: recordablePublicKey(proven) },
            actor,
            'key pair proven',
          );
        }),
      );
      return {
        cardId: record.cardId,
        n: record.n,
        sealMode: record.sealMode,
        keyFingerprint: record.publicKey === null ? null : publicKeyFingerprint(record.publicKey),
      };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const card = seen as CardRecord | null; // set inside the card callback
      await this.deps.audit.append({
        ...actor,
        action: 'cards.seal_mode',
        object: card ? `card:${card.cardId}` : `reader:${reader}`,
        outcome: 'failed',
        details: { to: mode, code: err.code, ...(card ? { n: card.n } : {}) },
      });
      if (INTERRUPTIONS.has(err.code)) {
        // Say what the record holds now: the step may have been cut before or after the switch to K.
        const now = card ? await this.deps.cards.byId(card.id) : null;
        const where = !now
          ? 'Nothing was changed.'
          : now.sealMode === 'public-key'
            ? 'Nothing was changed: lists still go to the card’s key pair on record.'
            : 'The card stays in card-key mode: lists keep reaching it under K.';
        throw new AppError(err.code, `${err.message} ${where} Present it again and choose the mode again.`);
      }
      throw err;
    }
  }

  private async record(card: CardRecord, target: SealTarget, actor: KeystoreActor, why: string): Promise<CardRecord> {
    const at = this.at();
    const moved = await this.deps.atomically(async (tx) => {
      const m = await tx.repos.cards.setSealMode(card.id, card.version, target, at);
      if (m)
        await tx.audit.append({
          ...actor,
          action: 'cards.seal_mode',
          object: `card:${card.cardId}`,
          outcome: 'ok',
          details: {
            n: card.n,
            from: card.sealMode,
            to: m.sealMode,
            why,
            ...(m.publicKey ? { keyFingerprint: publicKeyFingerprint(m.publicKey) } : {}),
          },
        });
      return m;
    });
    if (!moved) {
      throw new AppError(
        'SEAL_MODE_CONFLICT',
        `Card ${card.n} was changed at the same time by another desk or step. Read the card again and choose the mode again.`,
      );
    }
    return moved;
  }

  private at(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }
}

import { CardStore } from '../../card-sim/card-store';
import { VirtualCard } from '../../card-sim/virtual-card';
import type { TrainingReaderService } from '../card/training-reader';
import { AppError } from '../errors';

// Training mode (OTAC_READER=training): a drawer of virtual cards the staff put into the
// in-process reader and take out again from the UI, so the whole loop can be practised without a
// reader. The cards are the real virtual card (src/card-sim), kept as files under the data
// directory so an enrolled practice card can be activated another day. Development stock only:
// their transport keys come from the well-known development vendor key (docs/keystore.md).

export interface TrainingCard {
  readonly cardId: string;
  readonly lifeCycle: string;
  readonly n: string | null;
  readonly inReader: boolean;
}

const MAX_CARDS = 50;

export class TrainingStock {
  private readonly store: CardStore;
  private inReader: string | null = null;

  constructor(
    dir: string,
    private readonly reader: TrainingReaderService,
  ) {
    this.store = new CardStore(dir);
  }

  get readerName(): string {
    return this.reader.snapshot().readers[0]?.name ?? '';
  }

  list(): TrainingCard[] {
    return this.store.list().map((c) => ({
      cardId: c.cardId.toUpperCase(),
      lifeCycle: c.lifeCycle,
      n: c.n ?? null,
      inReader: c.cardId.toUpperCase() === this.inReader,
    }));
  }

  /** A new blank card from (development) stock, put straight into the reader. */
  newBlankCard(): TrainingCard {
    if (this.store.list().length >= MAX_CARDS) {
      throw new AppError(
        'TRAINING_DRAWER_FULL',
        `The training drawer holds ${MAX_CARDS} cards. Use one of the cards already in it.`,
      );
    }
    const [card] = this.store.create(1);
    if (!card) throw new Error('card stock created no card');
    return this.insert(card.cardId);
  }

  /** Puts a drawer card into the reader (taking out whatever card was there). */
  insert(cardId: string): TrainingCard {
    const id = cardId.toLowerCase();
    const record = this.store.list().find((c) => c.cardId === id);
    if (!record) {
      throw new AppError('TRAINING_CARD_UNKNOWN', 'That card is not in the training drawer. Pick one from the list.');
    }
    const card = new VirtualCard(record, { persist: (r) => this.store.save(r) });
    this.reader.insert(card);
    this.inReader = id.toUpperCase();
    return this.list().find((c) => c.cardId === this.inReader)!;
  }

  remove(): void {
    this.reader.remove();
    this.inReader = null;
  }
}

import type { CardSide } from '../card/card-side';
import type { TrainingReaderService } from '../card/training-reader';
import { AppError } from '../errors';

// Training mode (OTAC_READER=training): a drawer of virtual cards the staff put into the
// in-process reader and take out again from the UI, so the whole loop can be practised without a
// reader. The cards come from a TrainingCardMaker the process entry provides (the real virtual
// card, src/card-sim/training-cards.ts): the core does not import the card simulator. Development
// stock only: their transport keys come from the well-known development vendor key (docs/keystore.md).

/** Where practice cards come from and are kept between sessions. */
export interface TrainingCardMaker {
  list(): readonly { readonly cardId: string; readonly lifeCycle: string; readonly n: string | null }[];
  /** A new blank card from (development) stock; its card id. */
  createBlank(): string;
  /** The card, ready for the reader, keeping its own changes; null for an unknown id. */
  open(cardId: string): CardSide | null;
}

export interface TrainingCard {
  readonly cardId: string;
  readonly lifeCycle: string;
  readonly n: string | null;
  readonly inReader: boolean;
}

const MAX_CARDS = 50;

export class TrainingStock {
  private inReader: string | null = null;

  constructor(
    private readonly store: TrainingCardMaker,
    private readonly reader: TrainingReaderService,
  ) {}

  get readerName(): string {
    return this.reader.snapshot().readers[0]?.name ?? '';
  }

  list(): TrainingCard[] {
    return this.store.list().map((c) => ({
      cardId: c.cardId.toUpperCase(),
      lifeCycle: c.lifeCycle,
      n: c.n,
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
    return this.insert(this.store.createBlank());
  }

  /** Puts a drawer card into the reader (taking out whatever card was there). */
  insert(cardId: string): TrainingCard {
    const card = this.store.open(cardId);
    if (!card) {
      throw new AppError('TRAINING_CARD_UNKNOWN', 'That card is not in the training drawer. Pick one from the list.');
    }
    this.reader.insert(card);
    this.inReader = cardId.toUpperCase();
    return this.list().find((c) => c.cardId === this.inReader)!;
  }

  remove(): void {
    this.reader.remove();
    this.inReader = null;
  }
}

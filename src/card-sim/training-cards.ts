import type { TrainingCardMaker } from '../core/enrollment/training-stock';
import { CardStore } from './card-store';
import { VirtualCard } from './virtual-card';

/**
 * The training drawer's cards: the real virtual card, kept as files in `dir` so an enrolled
 * practice card can be activated another day. Given to the workstation by the process entry
 * (src/host, src/main): the core never imports the card simulator.
 */
export function trainingCardMaker(dir: string): TrainingCardMaker {
  const store = new CardStore(dir);
  return {
    list: () => store.list().map((c) => ({ cardId: c.cardId, lifeCycle: c.lifeCycle, n: c.n ?? null })),
    createBlank: () => {
      const [card] = store.create(1);
      if (!card) throw new Error('card stock created no card');
      return card.cardId;
    },
    open: (cardId) => {
      const record = store.list().find((c) => c.cardId === cardId.toLowerCase());
      return record ? new VirtualCard(record, { persist: (r) => store.save(r) }) : null;
    },
  };
}

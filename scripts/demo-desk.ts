import { CardStore } from '../src/card-sim/card-store';
import { insertCard, insertedCards } from '../src/card-sim/slots';

// For `npm start` on a desk with the test bed: make sure card stock exists and a blank card
// sits in the first reader, so a newcomer sees a card in the status bar straight away.
async function main(): Promise<void> {
  if (insertedCards().some((c) => c.slot === 0)) return;
  const store = new CardStore();
  const blank = store.list().find((c) => c.lifeCycle === 'blank') ?? store.create(1)[0];
  if (!blank) return;
  await insertCard(store.pathOf(blank.cardId), 0);
  console.log(`demo desk: blank card ${blank.cardId} inserted in the first reader (npm run card -- list)`);
}

main().catch((err: unknown) => {
  console.error(`demo desk: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

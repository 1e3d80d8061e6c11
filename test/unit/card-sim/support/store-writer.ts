import { CardStore } from '../../../../src/card-sim/card-store';
import { newBlankCard } from '../../../../src/card-sim/card-record';

// Child process for the atomic-write test: rewrites one card file as fast as it can, each
// version bigger than the last, until it is killed.
const dir = process.argv[2] ?? '';
const store = new CardStore(dir);
const rec = newBlankCard();
rec.cardId = '00000000000000aa';
for (let v = 1; ; v++) {
  rec.counters.codesIssued = v;
  rec.list = {
    listId: '00'.repeat(16),
    listSeq: v,
    expiry: 0,
    threshold: 0,
    codeLength: 6,
    bodyHash: '',
    receiptKey: '',
    entries: Array.from({ length: 2000 + (v % 300) }, (_, i) => ({ index: i + 1, code: '123456', used: false })),
  };
  store.save(rec);
  if (v === 1) process.stdout.write('ready\n');
}

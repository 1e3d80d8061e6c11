import { readFileSync } from 'node:fs';
import { OtacCard } from '../src/core/card/protocol/card-session';
import { PcscReaderService } from '../src/core/card/reader.service';
import { isAppError } from '../src/core/errors';
import { loadPackage, receiptText } from '../src/core/push/package-loader';
import { joinPackage } from '../src/core/push/sms-package';

// npm run load-package -- <segments file | -> [--reader <name>]
// Reassembles a remote refill package (one text message per line, any order) and loads it into
// the card in a PC/SC reader — what a cardholder's own reader or a kiosk does. Needs no key: the
// package is sealed for that card. Prints the receipt message to send back to the bank.

function usage(): never {
  console.error('usage: npm run load-package -- <file with one message per line, or -> [--reader <reader name>]');
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let file: string | undefined;
  let readerName: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--reader') readerName = argv[++i] ?? usage();
    else if (!file) file = argv[i];
    else usage();
  }
  if (!file) usage();
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  const envelope = joinPackage(text.split(/\r?\n/));
  console.log(`package complete: ${envelope.length} bytes`);

  const readers = new PcscReaderService({ timeoutMs: 10_000 });
  readers.start();
  try {
    const deadline = Date.now() + 15_000;
    let name: string | undefined;
    while (!name && Date.now() < deadline) {
      const ready = readers.snapshot().readers.filter((r) => r.condition === 'ready');
      name = readerName ? ready.find((r) => r.name === readerName)?.name : ready[0]?.name;
      if (!name) await new Promise((r) => setTimeout(r, 200));
    }
    if (!name) {
      console.error(readerName ? `No card is ready in reader "${readerName}".` : 'No card is ready in any reader.');
      return 1;
    }
    const result = await readers.withCard(name, (transport) =>
      loadPackage(new OtacCard(transport), envelope, (sent, total) => console.log(`sent ${sent}/${total} bytes`)),
    );
    console.log(result.alreadyLoaded ? 'the card already held this list' : `list ${result.receipt.listSeq} committed`);
    console.log(receiptText(envelope, result.receipt));
    return 0;
  } finally {
    await readers.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(isAppError(err) ? `${err.code}: ${err.message}` : String(err));
    process.exitCode = 1;
  },
);

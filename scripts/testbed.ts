/**
 * `npx tsx scripts/testbed.ts up|down|status`: the PC/SC test bed (pcscd + vpcd + virtual
 * cards). See scripts/testbed/testbed-control.ts for what each step does and why.
 */
import { findPcscd, pcscdLogFile, stopPcscd, testbedUp } from './testbed/testbed-control';
import { insertedCards, removeAllCards } from '../src/card-sim/slots';

const log = (line: string): void => console.log(`testbed: ${line}`);

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up': {
      const result = await testbedUp(log);
      log(`pcscd ${result.pid} ${result.started ? 'started' : 'already running'} (${result.ms} ms)`);
      return 0;
    }
    case 'down': {
      await removeAllCards();
      await stopPcscd(log);
      log('down');
      return 0;
    }
    case 'status': {
      const pcscd = findPcscd();
      if (pcscd.length === 0) log('pcscd: not running');
      for (const p of pcscd) log(`pcscd: pid ${p.pid}, ${p.hasShim ? 'with' : 'WITHOUT'} the TCP_NODELAY shim`);
      log(`pcscd log: ${pcscdLogFile()}`);
      for (const card of insertedCards()) {
        log(`card process: slot ${card.slot}, pid ${card.pid}, ${card.cardFile}`);
      }
      if (pcscd.length > 0) {
        // Loaded lazily: `up` must work before pcsclite's native module is built.
        const { readPcscStatus } = await import('./testbed/pcsc-status');
        for (const reader of await readPcscStatus()) {
          const card = reader.cardPresent ? `card present, ATR ${reader.atr ?? '?'}` : 'empty';
          log(`reader "${reader.name}": ${card}`);
        }
      }
      return 0;
    }
    default:
      console.error('usage: tsx scripts/testbed.ts up|down|status');
      return 2;
  }
}

main(process.argv[2]).then(
  // pcsclite keeps native threads alive; leave explicitly once the answer is printed.
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`testbed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

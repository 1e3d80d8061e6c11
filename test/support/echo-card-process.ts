/**
 * A card process for link and reader tests before (or besides) the real VirtualCard:
 * the EchoCard in a vpcd slot. Same arguments as src/card-sim/card-process.ts; the card
 * file is only used to label the process.
 */
import { runCardOnVpcd } from '../../src/card-sim/vpcd-card-runner';
import { EchoCard } from './echo-card';

const arg = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};

const delay = arg('--response-delay-ms');
runCardOnVpcd(new EchoCard(), {
  slot: Number(arg('--slot') ?? '0'),
  ...(delay !== undefined ? { responseDelayMs: Number(delay) } : {}),
});

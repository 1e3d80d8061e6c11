import { expect } from 'vitest';
import type { CardTransport } from '../../../../src/core/card/transport';

/** One exchange: the command the host must send (hex, any case) and the card's answer (hex), or a fault to throw. */
export type ScriptStep = readonly [command: string, answer: string | Error];

/**
 * A scripted card: checks each command the host sends against the script, byte for byte, and gives
 * the canned answer (or throws the step's fault, as a pulled card does). `left()` is how many
 * steps were not reached, so a test also proves the host sent nothing it should not have.
 */
export function scripted(script: readonly ScriptStep[]): CardTransport & { left: () => number } {
  let i = 0;
  return {
    left: () => script.length - i,
    async transmit(c: Buffer): Promise<Buffer> {
      const step = script[i++];
      if (!step) throw new Error(`unexpected command ${c.toString('hex')}`);
      expect(c.toString('hex').toUpperCase()).toBe(step[0].toUpperCase());
      if (step[1] instanceof Error) throw step[1];
      return Buffer.from(step[1], 'hex');
    },
  };
}

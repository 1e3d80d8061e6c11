import path from 'node:path';

/**
 * Where the test bed keeps its run files (pid files, logs, the compiled shim). One directory
 * per checkout, gitignored; OTAC_TESTBED_DIR overrides it (e.g. for a packaged demo).
 */
export function testbedDir(): string {
  return process.env.OTAC_TESTBED_DIR ?? path.resolve(__dirname, '../../.testbed');
}

export function repoRoot(): string {
  return path.resolve(__dirname, '../..');
}

export const PCSCD_SOCKET = '/run/pcscd/pcscd.comm';

/** vpcd listens on 35963 for its first slot and on the next port for the second. */
export const VPCD_BASE_PORT = 35963;
export const VPCD_SLOTS = 2;

export function vpcdPort(slot: number): number {
  if (!Number.isInteger(slot) || slot < 0 || slot >= VPCD_SLOTS) {
    throw new RangeError(`vpcd slot must be 0..${VPCD_SLOTS - 1}, got ${slot}`);
  }
  return VPCD_BASE_PORT + slot;
}

/** The reader name pcscd gives each vpcd slot (FRIENDLYNAME from /etc/reader.conf.d/vpcd). */
export function vpcdReaderName(slot: number): string {
  return `Virtual PCD 00 ${String(slot).padStart(2, '0')}`;
}

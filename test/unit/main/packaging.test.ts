import { resolve } from 'node:path';
import { DebugLogger } from 'builder-util';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config';
import { describe, expect, it } from 'vitest';

// The installer's Electron binary gets its fuses from build/electron-builder.yml. The config is
// read and checked by electron-builder's own loader and schema, so a misspelt fuse fails here.
const root = resolve(__dirname, '../../..');

describe('packaging config', () => {
  it('passes electron-builder schema validation, and a misspelt fuse would not', async () => {
    const config = await getConfig(root, resolve(root, 'build/electron-builder.yml'), null);
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
    await expect(
      validateConfiguration({ ...config, electronFuses: { runAsNod: false } as never }, new DebugLogger(false)),
    ).rejects.toThrow(/electronFuses/);
  });

  it('flips the fuses that would let other code run as the app', async () => {
    const config = await getConfig(root, resolve(root, 'build/electron-builder.yml'), null);
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
    });
    // The app must load from app.asar for onlyLoadAppFromAsar and the integrity check to mean anything.
    expect(config.asar).not.toBe(false);
  });
});

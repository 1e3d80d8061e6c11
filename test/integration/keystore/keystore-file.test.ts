import { readFileSync, writeFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/core/atomic-file';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import { openKeystore } from '../../../src/core/keystore/create-keystore';
import { SqliteCardSeriesStore } from '../../../src/core/keystore/card-series.repository';
import { createKeystoreFixture, SOFTHSM_LIBRARY, type KeystoreFixture } from './keystore.fixture';

// A damaged keystore must be refused with an error that says what to do, and must never be
// overwritten by the refusal.
describe('keystore file integrity (software backend)', () => {
  let fx: KeystoreFixture;
  let good: Buffer;

  beforeAll(async () => {
    fx = createKeystoreFixture('software');
    const ks = await fx.open();
    await ks.generateMasterKey({ officer: 'sofia' });
    await ks.close();
    good = readFileSync(fx.keystoreFile);
  });
  afterAll(() => fx.dispose());

  const refuses = async (bytes: Buffer, code: string) => {
    writeFileSync(fx.keystoreFile, bytes);
    const err: unknown = await fx.open({ createIfMissing: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'AppError', code });
    expect((err as Error).message).toMatch(/nothing was changed|backup/);
    expect(readFileSync(fx.keystoreFile).equals(bytes)).toBe(true);
    writeFileSync(fx.keystoreFile, good);
  };

  it('opens the intact file', async () => {
    const ks: KeystoreService = await fx.open({ createIfMissing: false });
    expect((await ks.listKeys()).map((k) => k.purpose).sort()).toEqual(['audit', 'master']);
    await ks.close();
  });

  it('detects a flipped bit in the encrypted body', async () => {
    const bad = Buffer.from(good);
    bad[bad.length - 40] = (bad[bad.length - 40] ?? 0) ^ 0x01;
    await refuses(bad, 'KEYSTORE_TAMPERED');
  });

  it('detects a changed header (authenticated as additional data)', async () => {
    const text = good.toString('latin1').replace('"payloadLength"', '"payloadLength" ');
    const bad = Buffer.from(text, 'latin1');
    bad.writeUInt32BE(bad.readUInt32BE(8) + 1, 8);
    await refuses(bad, 'KEYSTORE_TAMPERED');
  });

  it('detects a flipped authentication tag and appended bytes', async () => {
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0x80;
    await refuses(bad, 'KEYSTORE_TAMPERED');
    await refuses(Buffer.concat([good, Buffer.from([0])]), 'KEYSTORE_TAMPERED');
  });

  it('detects truncation anywhere', async () => {
    for (const len of [3, 10, 40, good.length - 17, good.length - 1])
      await refuses(good.subarray(0, len), 'KEYSTORE_TRUNCATED');
  });

  it('refuses a foreign file (an SQLite database) and a newer format', async () => {
    await refuses(readFileSync(fx.dbFile), 'KEYSTORE_FOREIGN');
    const newer = Buffer.from(good);
    newer[7] = 2;
    await refuses(newer, 'KEYSTORE_VERSION');
  });

  it('refuses the wrong passphrase without touching the file', async () => {
    await expect(fx.open({ passphrase: 'another passphrase' })).rejects.toMatchObject({
      code: 'KEYSTORE_WRONG_PASSPHRASE',
    });
    expect(readFileSync(fx.keystoreFile).equals(good)).toBe(true);
  });

  it('does not invent a keystore when the file is missing and creation is off', async () => {
    const other = join(fx.dir, 'missing.otacks');
    const cfg = { ...fx.config(), file: other, createIfMissing: false } as const;
    await expect(
      openKeystore(cfg, { cardSeries: new SqliteCardSeriesStore(fx.db), audit: () => undefined }),
    ).rejects.toMatchObject({
      code: 'KEYSTORE_MISSING',
    });
    expect(existsSync(other)).toBe(false);
  });

  it('writes atomically: a failed replace keeps the old file and leaves no temp file', () => {
    const dir = join(fx.dir, 'atomic');
    mkdirSync(join(dir, 'target'), { recursive: true }); // renaming a file over a directory fails
    expect(() => writeFileAtomic(join(dir, 'target'), Buffer.from('new'))).toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
    writeFileAtomic(join(dir, 'file'), Buffer.from('one'));
    writeFileAtomic(join(dir, 'file'), Buffer.from('two'));
    expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('two');
  });
});

describe('keystore token selection (pkcs11 backend)', () => {
  let fx: KeystoreFixture;
  beforeAll(() => {
    fx = createKeystoreFixture('pkcs11');
  });
  afterAll(() => fx.dispose());

  it('refuses an absent token with a clear error', async () => {
    const cfg = { backend: 'pkcs11', library: SOFTHSM_LIBRARY, tokenLabel: 'no-such-token', pin: '246810' } as const;
    await expect(
      openKeystore(cfg, { cardSeries: new SqliteCardSeriesStore(fx.db), audit: () => undefined }),
    ).rejects.toMatchObject({
      code: 'HSM_TOKEN_NOT_FOUND',
    });
  });
});

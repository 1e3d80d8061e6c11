import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_NAME, readKeystoreSecret } from '../../../src/verify-service/keystore-secret';
import { thrown } from '../../support/thrown';

// Where the service takes its keystore secret from (docs/verification-service.md): a descriptor, a
// systemd credential, a file only its user reads, or (development) the environment, which is then
// cleared. A file others can read is refused, and so is a start with no source at all.

describe('the keystore secret of the verification service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'otac-secret-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file descriptor and closes it', () => {
    const file = join(dir, 'fd-source');
    writeFileSync(file, 'from a descriptor\n', { mode: 0o600 });
    const fd = openSync(file, 'r');
    expect(readKeystoreSecret({ OTAC_KEYSTORE_SECRET_FD: String(fd) })).toEqual({
      secret: 'from a descriptor',
      source: `file descriptor ${fd}`,
    });
    expect(() => closeSync(fd)).toThrow(/EBADF/); // already closed
    expect(thrown(() => readKeystoreSecret({ OTAC_KEYSTORE_SECRET_FD: '1' })).message).toContain('3 or above');
  });

  it('reads the systemd credential before a file or the environment', () => {
    const creds = join(dir, 'creds');
    rmSync(creds, { recursive: true, force: true });
    mkdirSync(creds);
    writeFileSync(join(creds, CREDENTIAL_NAME), 'credential secret', { mode: 0o400 });
    expect(readKeystoreSecret({ CREDENTIALS_DIRECTORY: creds, OTAC_KEYSTORE_SECRET: 'env secret here' })).toEqual({
      secret: 'credential secret',
      source: 'systemd credential',
    });
  });

  it('reads a private file, and refuses one that others can read', () => {
    const file = join(dir, 'secret');
    writeFileSync(file, 'file secret\r\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    expect(readKeystoreSecret({ OTAC_KEYSTORE_SECRET_FILE: file }).secret).toBe('file secret');
    chmodSync(file, 0o640);
    const err = thrown(() => readKeystoreSecret({ OTAC_KEYSTORE_SECRET_FILE: file }));
    expect(err.message).toContain('can be read by other users');
    expect(err.message).not.toContain('file secret');
  });

  it('takes the environment last and removes the variable once read', () => {
    const env: NodeJS.ProcessEnv = { OTAC_KEYSTORE_SECRET: 'development secret' };
    expect(readKeystoreSecret(env)).toEqual({ secret: 'development secret', source: 'environment' });
    expect(env['OTAC_KEYSTORE_SECRET']).toBeUndefined();
    expect(thrown(() => readKeystoreSecret(env)).message).toContain('OTAC_KEYSTORE_SECRET_FD');
  });
});

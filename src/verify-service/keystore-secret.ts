import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Where the service finds the keystore's passphrase (software keystore) or the token's user PIN
// (PKCS#11) at start, without it lying in a file others can read (docs/verification-service.md
// "Unlocking the keystore"). In order:
//
// 1. OTAC_KEYSTORE_SECRET_FD=<n>: read from an inherited file descriptor (a pipe from the secret
//    store or the operator's prompt), then closed. Nothing on disk, nothing in the environment.
// 2. A systemd credential: `LoadCredential=otac-keystore-secret:…` (or `LoadCredentialEncrypted=`,
//    sealed to the machine's TPM) puts it in $CREDENTIALS_DIRECTORY, a non-swappable
//    memory file system readable only by the service's user.
// 3. OTAC_KEYSTORE_SECRET_FILE=<path>: a file that only the service's user may read; a file that
//    its group or others can read is refused.
// 4. OTAC_KEYSTORE_SECRET: the environment (development and tests only; another process of the
//    same user can read /proc/<pid>/environ). It is removed from process.env once read.
//
// The trailing newline a shell or a credential file adds is dropped; nothing else is trimmed.

export const CREDENTIAL_NAME = 'otac-keystore-secret';

export class SecretSourceError extends Error {}

export function readKeystoreSecret(env: NodeJS.ProcessEnv = process.env): { secret: string; source: string } {
  const fd = env['OTAC_KEYSTORE_SECRET_FD'];
  if (fd !== undefined) {
    const n = Number(fd);
    if (!Number.isInteger(n) || n < 3)
      throw new SecretSourceError('OTAC_KEYSTORE_SECRET_FD must name an inherited file descriptor (3 or above).');
    try {
      return { secret: clean(readFileSync(n, 'utf8')), source: `file descriptor ${n}` };
    } finally {
      try {
        closeSync(n);
      } catch {
        // already closed by the reader at end of file
      }
    }
  }
  const credDir = env['CREDENTIALS_DIRECTORY'];
  if (credDir && existsSync(join(credDir, CREDENTIAL_NAME))) {
    return { secret: clean(readFileSync(join(credDir, CREDENTIAL_NAME), 'utf8')), source: 'systemd credential' };
  }
  const file = env['OTAC_KEYSTORE_SECRET_FILE'];
  if (file !== undefined) {
    const fdFile = openSync(file, 'r');
    try {
      const mode = fstatSync(fdFile).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        throw new SecretSourceError(
          `${file} can be read by other users (mode ${mode.toString(8)}). ` +
            `Make it readable by the service's user only (chmod 600) and start again.`,
        );
      }
      return { secret: clean(readFileSync(fdFile, 'utf8')), source: 'protected file' };
    } finally {
      closeSync(fdFile);
    }
  }
  const fromEnv = env['OTAC_KEYSTORE_SECRET'];
  if (fromEnv !== undefined) {
    delete env['OTAC_KEYSTORE_SECRET'];
    return { secret: clean(fromEnv), source: 'environment' };
  }
  throw new SecretSourceError(
    'The service needs the keystore passphrase (or the HSM PIN) to check codes. Pass it on a file ' +
      `descriptor (OTAC_KEYSTORE_SECRET_FD), as the systemd credential "${CREDENTIAL_NAME}", or in a ` +
      'file only this user can read (OTAC_KEYSTORE_SECRET_FILE). See docs/verification-service.md.',
  );
}

function clean(s: string): string {
  return s.replace(/\r?\n$/, '');
}

/** A TLS private key file must be private too (same rule as the secret file). */
export function assertPrivateFile(file: string, what: string): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new SecretSourceError(
      `${what} ${file} can be read by other users (mode ${mode.toString(8)}). chmod 600 it and start again.`,
    );
}

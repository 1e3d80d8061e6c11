import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// The data directory holds password hashes, the audit trail, the keystore and its backups: only
// the operating-system account that runs the workstation may read it. Modes are set explicitly
// (chmod), so they hold whatever the umask, and again at each start for files an earlier version
// left readable. On Windows chmod only toggles read-only; there the profile folder's ACL applies.

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents) as 0700, and makes an existing one 0700. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Makes `file` 0600 if it exists. */
export function restrictFile(file: string): void {
  try {
    chmodSync(file, PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Makes every folder under `dir` 0700 and every file 0600, if `dir` exists; symlinks are left alone. */
export function restrictTree(dir: string): void {
  let entries: string[];
  try {
    if (!lstatSync(dir).isDirectory()) return;
    chmodSync(dir, PRIVATE_DIR_MODE);
    entries = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of entries) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) restrictTree(path);
    else if (st.isFile()) chmodSync(path, PRIVATE_FILE_MODE);
  }
}

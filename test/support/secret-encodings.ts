import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The forms a leaked secret would take in a file, a log or an answer: raw bytes, hex (both cases), base64. */
export function encodings(secret: Buffer): string[] {
  const hex = secret.toString('hex');
  return [secret.toString('latin1'), hex, hex.toUpperCase(), secret.toString('base64'), secret.toString('base64url')];
}

/** Every file under `dir` (a data directory: database, WAL, logs, keystore), for a scan after a run. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

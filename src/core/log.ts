import { appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE, restrictFile } from './private-files';

export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/** Structured log lines. Callers pass identifiers and codes only, never keys, codes, PINs or passkeys. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export function createLogger(file: string | null, echo = false): Logger {
  if (file) {
    makePrivateDir(dirname(file));
    restrictFile(file);
  }
  const write = (level: string, message: string, fields?: LogFields) => {
    const line = JSON.stringify({ at: new Date().toISOString(), level, message, ...fields });
    if (file) appendFileSync(file, line + '\n', { mode: PRIVATE_FILE_MODE });
    if (echo) process.stderr.write(line + '\n');
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

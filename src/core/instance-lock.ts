import { closeSync, fchmodSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from './errors';
import { makePrivateDir, PRIVATE_FILE_MODE } from './private-files';

const heldHere = new Set<string>();

/**
 * One workstation per data directory: a second instance is refused with a clear message
 * before it touches the database. A lock left by a dead process is taken over. `name` names
 * another process kind with a lock of its own: the verification service runs beside the desk on
 * the same database (`verify-service.lock`), one service per data directory.
 */
export function acquireInstanceLock(
  dataDir: string,
  name: 'workstation' | 'verify-service' = 'workstation',
): () => void {
  // The data directory is created (or tightened) here, first thing at start: 0700 (private-files.ts).
  makePrivateDir(dataDir);
  const file = join(dataDir, `${name}.lock`);
  if (heldHere.has(file)) throw alreadyRunning(dataDir, process.pid, name);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', PRIVATE_FILE_MODE);
      fchmodSync(fd, PRIVATE_FILE_MODE);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldHere.add(file);
      return () => {
        heldHere.delete(file);
        rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) throw alreadyRunning(dataDir, pid, name);
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw alreadyRunning(dataDir, 0, name);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function alreadyRunning(dataDir: string, pid: number, name: string): AppError {
  if (name !== 'workstation')
    return new AppError(
      'ALREADY_RUNNING',
      `The verification service is already running on ${dataDir}${pid ? ` (process ${pid})` : ''}. ` +
        'Stop it before starting another.',
    );
  return new AppError(
    'ALREADY_RUNNING',
    `The workstation is already running on ${dataDir}${pid ? ` (process ${pid})` : ''}. ` +
      'Switch to its window, or stop it before starting another.',
  );
}

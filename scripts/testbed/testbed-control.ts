import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PCSCD_SOCKET, repoRoot, testbedDir } from '../../src/card-sim/testbed-paths';

/**
 * The PC/SC test bed: Debian's pcscd with the vpcd driver, run as root without systemd, with
 * the TCP_NODELAY shim preloaded. Policy: one pcscd per machine. A running pcscd that already
 * carries our shim is reused whoever started it; one without the shim is stopped and replaced,
 * because without it every APDU costs ~44 ms and timings and timeouts in tests are wrong.
 */
const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
const SHIM_NAME = 'nodelay-shim.so';

export const shimPath = (): string => path.join(testbedDir(), SHIM_NAME);
export const pcscdPidFile = (): string => path.join(testbedDir(), 'pcscd.pid');
export const pcscdLogFile = (): string => path.join(testbedDir(), 'pcscd.log');

export interface PcscdProcess {
  pid: number;
  hasShim: boolean;
}

type Log = (line: string) => void;

/** Alive and not a zombie (a pcscd we spawned and killed may linger as one until reaped). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Every live pcscd on the machine, found through /proc, so pid files cannot lie to us. */
export function findPcscd(): PcscdProcess[] {
  const found: PcscdProcess[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'pcscd' || !isAlive(pid)) continue;
      const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
      found.push({ pid, hasShim: maps.includes(SHIM_NAME) });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Debian packages `up` installs when their files are missing. */
function missingPackages(): string[] {
  const missing: string[] = [];
  if (!commandExists('pcscd')) missing.push('pcscd');
  if (!fs.existsSync('/usr/include/PCSC/winscard.h')) missing.push('libpcsclite-dev');
  if (!fs.existsSync(VPCD_DRIVER)) missing.push('vsmartcard-vpcd');
  if (!commandExists('scriptor')) missing.push('pcsc-tools');
  if (!commandExists('cc')) missing.push('gcc', 'libc6-dev');
  return missing;
}

function ensurePackages(log: Log): void {
  const missing = missingPackages();
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): boolean =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    }).status === 0;
  log(`installing ${missing.join(' ')}`);
  if (install()) return;
  // Fresh images ship without package lists; refresh them only when the install needs it.
  log('apt-get install failed; running apt-get update and retrying');
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
  if (!install()) throw new Error(`apt-get install ${missing.join(' ')} failed`);
}

function ensureShim(log: Log): string {
  const source = path.join(repoRoot(), 'scripts/testbed/nodelay-shim.c');
  const target = shimPath();
  const stale = !fs.existsSync(target) || fs.statSync(target).mtimeMs < fs.statSync(source).mtimeMs;
  if (stale) {
    log(`compiling ${path.relative(repoRoot(), target)}`);
    const tmp = `${target}.${process.pid}.tmp`;
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, source, '-ldl'], {
      stdio: 'inherit',
    });
    // Rename so a pcscd starting concurrently never maps a half-written library.
    fs.renameSync(tmp, target);
  }
  return target;
}

async function waitFor(check: () => boolean, timeoutMs: number, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  return check();
}

/** SIGTERM, then SIGKILL if it does not go within the grace period. */
export async function stopProcess(pid: number, graceMs = 3000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitFor(() => !isAlive(pid), graceMs, 20)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitFor(() => !isAlive(pid), 2000, 20);
}

function socketReady(): boolean {
  try {
    return fs.statSync(PCSCD_SOCKET).isSocket();
  } catch {
    return false;
  }
}

/** Stale files from a killed pcscd make the next one refuse to start ("another pcscd running?"). */
function removeStaleRunFiles(): void {
  for (const file of [PCSCD_SOCKET, '/run/pcscd/pcscd.pid']) fs.rmSync(file, { force: true });
}

function withoutPreload(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.LD_PRELOAD;
  return copy;
}

export interface UpResult {
  pid: number;
  started: boolean;
  ms: number;
}

export interface UpOptions {
  /** false: run pcscd without the TCP_NODELAY shim (only the benchmark's baseline wants this). */
  shim?: boolean;
}

/** Idempotent: installs what is missing, builds the shim, starts pcscd with vpcd if needed. */
export async function testbedUp(log: Log = () => undefined, options: UpOptions = {}): Promise<UpResult> {
  const wantShim = options.shim ?? true;
  const began = Date.now();
  if (process.getuid?.() !== 0) {
    throw new Error('the test bed needs root (it installs packages and runs pcscd); run it as root');
  }
  fs.mkdirSync(testbedDir(), { recursive: true });
  ensurePackages(log);
  const shim = ensureShim(log);

  const running = findPcscd();
  const ours = running.find((p) => p.hasShim === wantShim);
  if (ours && running.length === 1 && socketReady()) {
    fs.writeFileSync(pcscdPidFile(), `${ours.pid}\n`);
    return { pid: ours.pid, started: false, ms: Date.now() - began };
  }
  for (const other of running) {
    log(
      `stopping pcscd ${other.pid} (${other.hasShim === wantShim ? 'socket missing' : other.hasShim ? 'has the shim' : 'started without the shim'})`,
    );
    await stopProcess(other.pid);
  }
  removeStaleRunFiles();

  const logFd = fs.openSync(pcscdLogFile(), 'a');
  const child = spawn('pcscd', ['--foreground', '--info'], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: wantShim ? { ...process.env, LD_PRELOAD: shim } : withoutPreload(process.env),
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  child.unref();
  if (pid === undefined) throw new Error('could not spawn pcscd');
  fs.writeFileSync(pcscdPidFile(), `${pid}\n`);
  const ready = await waitFor(() => socketReady() || !isAlive(pid), 5000);
  if (!ready || !isAlive(pid)) {
    throw new Error(`pcscd did not come up; see ${pcscdLogFile()}`);
  }
  log(`pcscd ${pid} started ${wantShim ? `with ${path.basename(shim)}` : 'WITHOUT the shim'}`);
  return { pid, started: true, ms: Date.now() - began };
}

/** Stops pcscd if it is ours (carries the shim); a foreign pcscd is left alone. */
export async function stopPcscd(log: Log = () => undefined): Promise<void> {
  for (const p of findPcscd()) {
    if (!p.hasShim) {
      log(`leaving pcscd ${p.pid} running: it was not started by the test bed`);
      continue;
    }
    await stopProcess(p.pid);
    log(`pcscd ${p.pid} stopped`);
  }
  fs.rmSync(pcscdPidFile(), { force: true });
}

import { readFileSync } from 'node:fs';

// CPU time from /proc (Linux), for the benchmarks' CPU per request; null elsewhere.

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux); null elsewhere. */
export function cpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/**
 * CPU time (ms) the whole machine has spent so far over every core, from /proc/stat: `busy` (user,
 * nice, system, interrupts) and `all` (with idle, I/O wait and time stolen by a hypervisor). Over a
 * load: the share of the machine it kept busy, and its CPU per request counting everything the
 * request made run (the load generator, the service, PostgreSQL's backends and WAL writer, the
 * kernel's loopback TCP). `stolen` is the hypervisor's share within `all`: a process's own CPU
 * time (`cpuMs`) can count time stolen while it ran (on some kernels), the machine's busy time never
 * does. Null elsewhere than Linux.
 */
export function machineCpuMs(): { busy: number; all: number; stolen: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is within user)
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const busy = [user, nice, system, irq, softirq].reduce((t: number, x) => t + (x ?? NaN), 0);
    const all = [idle, iowait, steal].reduce((t: number, x) => t + (x ?? NaN), busy);
    if (!line.startsWith('cpu ') || !Number.isFinite(all)) return null;
    const ms = (ticks: number) => (ticks * 1000) / CLOCK_TICKS;
    return { busy: ms(busy), all: ms(all), stolen: ms(steal ?? 0) };
  } catch {
    return null;
  }
}

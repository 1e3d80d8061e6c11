import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { cpuMs, machineCpuMs } from '../../../bench/support/cpu';

// The benchmarks' CPU readers (bench/support/cpu.ts): the verification bench's CPU per request and
// its bound against pgbench rest on them. Busy loops on every core from this process must show in
// its CPU time by most of their length (the counters tick every 10 ms), the machine's busy time (with
// what a hypervisor stole meanwhile, which the process's own time can count) must hold at least what
// this process used (it is part of it: an idle count taken for busy fails here), and never exceed the
// machine's whole time.

/**
 * Spins until this process has used `ms` of CPU by `cpuMs` (threads included), or 10 s have passed:
 * CPU time, not wall time, so a loaded machine (the full suite's other workers) cannot starve it
 * below what the test expects.
 */
function spinFor(ms: number, from: number): void {
  const end = performance.now() + 10_000;
  let x = 0;
  while ((cpuMs(process.pid) ?? Infinity) - from < ms && performance.now() < end)
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
  expect(x).toBeGreaterThan(0);
}

describe('CPU time from /proc', () => {
  it('counts busy loops of this process in its own CPU time and in the machine’s busy time', async () => {
    const own0 = cpuMs(process.pid);
    const machine0 = machineCpuMs();
    // Every other core busy too, until this thread is done: then the machine has little idle to count.
    const others = Array.from(
      { length: availableParallelism() - 1 },
      () => new Worker('let x = 0; for (;;) x += Math.sqrt(x + 1);', { eval: true }),
    );
    spinFor(300, own0 ?? 0);
    await Promise.all(others.map((w) => w.terminate()));
    const own1 = cpuMs(process.pid);
    const machine1 = machineCpuMs();
    if (own0 === null || own1 === null || !machine0 || !machine1)
      throw new Error('no /proc here: the benchmarks run on Linux');
    expect(own1 - own0).toBeGreaterThanOrEqual(250);
    // Time a hypervisor stole while these threads ran can be in their own time (the scheduler's
    // clock, on some kernels) and is never in the machine's busy time.
    const stolen = machine1.stolen - machine0.stolen;
    expect(stolen).toBeGreaterThanOrEqual(0);
    expect(machine1.busy - machine0.busy + stolen).toBeGreaterThanOrEqual(own1 - own0 - 20);
    expect(machine1.all - machine0.all).toBeGreaterThanOrEqual(machine1.busy - machine0.busy);
    expect(machine1.busy).toBeLessThanOrEqual(machine1.all);
  });

  it('a process that is not there has no CPU time', () => {
    expect(cpuMs(2 ** 30)).toBeNull();
  });
});

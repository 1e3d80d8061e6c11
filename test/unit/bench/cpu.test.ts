import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { cpuMs, machineCpuMs } from '../../../bench/support/cpu';

// The benchmarks' CPU readers (bench/support/cpu.ts): the verification bench's CPU per request and
// its bound against pgbench rest on them. Busy loops on every core from this process must show in
// its CPU time by most of their length (the counters tick every 10 ms), the machine's busy time must
// hold at least what this process used (it is part of it: an idle count taken for busy fails here),
// and never exceed the machine's whole time.

function spin(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  expect(x).toBeGreaterThan(0);
}

describe('CPU time from /proc', () => {
  it('counts busy loops of this process in its own CPU time and in the machine’s busy time', async () => {
    const own0 = cpuMs(process.pid);
    const machine0 = machineCpuMs();
    const others = Array.from(
      { length: availableParallelism() - 1 },
      () =>
        new Worker(
          'const end = performance.now() + 300; let x = 0; while (performance.now() < end) x += Math.sqrt(x + 1);',
          { eval: true },
        ),
    );
    const done = Promise.all(others.map((w) => new Promise((resolve) => w.once('exit', resolve))));
    spin(300);
    await done;
    const own1 = cpuMs(process.pid);
    const machine1 = machineCpuMs();
    if (own0 === null || own1 === null || !machine0 || !machine1)
      throw new Error('no /proc here: the benchmarks run on Linux');
    expect(own1 - own0).toBeGreaterThanOrEqual(250);
    expect(machine1.busy - machine0.busy).toBeGreaterThanOrEqual(own1 - own0 - 20);
    expect(machine1.all - machine0.all).toBeGreaterThanOrEqual(machine1.busy - machine0.busy);
    expect(machine1.busy).toBeLessThanOrEqual(machine1.all);
  });

  it('a process that is not there has no CPU time', () => {
    expect(cpuMs(2 ** 30)).toBeNull();
  });
});

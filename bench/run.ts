import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

// The benchmark harness: runs every bench/*.bench.ts (or those named on the command line),
// prints each figure as one line `name value unit`, and writes them all to bench/latest.json
// with a description of the machine. Each bench reports ratios against a baseline it measures
// in the same run, so figures from different machines stay comparable.

type Report = (name: string, value: number, unit: string) => void;
interface BenchModule {
  run(report: Report): Promise<void>;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
    .sort();
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    at: new Date().toISOString(),
  };
  console.log(`# ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);
  const figures: { bench: string; name: string; value: number; unit: string }[] = [];
  let failed = 0;
  for (const file of files) {
    const bench = file.replace(/\.bench\.ts$/, '');
    const report: Report = (name, value, unit) => {
      const rounded = Number(value.toPrecision(4));
      figures.push({ bench, name, value: rounded, unit });
      console.log(`${name} ${rounded} ${unit}`);
    };
    try {
      const mod = (await import(join(__dirname, file))) as BenchModule;
      await mod.run(report);
    } catch (err) {
      failed++;
      console.error(`# ${bench} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  mkdirSync(__dirname, { recursive: true });
  writeFileSync(join(__dirname, 'latest.json'), JSON.stringify({ machine, figures }, null, 2) + '\n');
  process.exit(failed ? 1 : 0);
}

void main();

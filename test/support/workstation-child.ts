import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command, ProcessConfig, Reply } from './workstation-process';

const ENTRY = join(__dirname, 'workstation-process.ts');

/**
 * The parent's side of test/support/workstation-process.ts: starts the workstation as a separate
 * Node process (node --import tsx, so the pid is the workstation's own and SIGKILL hits it, not a
 * wrapper), sends commands and waits for its answers.
 */
export class WorkstationChild {
  private readonly replies: Reply[] = [];
  private waiting: (() => void) | null = null;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.replies.push(JSON.parse(line) as Reply);
      } catch {
        this.stderr += `${line}\n`; // a stray log line on stdout
      }
      this.wake();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      this.wake();
    });
  }

  /** Starts a workstation on `cfg.dataDir` and waits until it has opened its database and keystore. */
  static async start(cfg: ProcessConfig, timeoutMs = 30_000): Promise<{ child: WorkstationChild; pid: number }> {
    const proc = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
      env: { ...process.env, OTAC_PROCESS_CONFIG: JSON.stringify(cfg) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const child = new WorkstationChild(proc);
    const ready = await child.next(timeoutMs);
    if (ready.event !== 'ready') throw new Error(`the workstation did not start: ${JSON.stringify(ready)}`);
    return { child, pid: ready.pid };
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  send(cmd: Command): void {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** The next answer; a process that exits or stays silent fails with what it wrote to stderr. */
  async next(timeoutMs = 60_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.shift();
      if (r) return r;
      if (this.exited)
        throw new Error(`the workstation process exited (${JSON.stringify(this.exited)}): ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer from the workstation process in ${timeoutMs} ms: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends a command and returns its answer, failing on an error answer. */
  async ask(cmd: Command, timeoutMs = 60_000): Promise<Reply> {
    this.send(cmd);
    const r = await this.next(timeoutMs);
    if (r.event === 'error') throw new Error(`the workstation answered ${cmd.op} with an error: ${r.message}`);
    return r;
  }

  /** SIGKILL, as a crash or a pulled plug; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL');
    await this.gone();
  }

  /** Resolves when the process has exited, with its exit code. */
  async gone(timeoutMs = 20_000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.exited) {
      if (Date.now() > deadline) throw new Error('the workstation process did not exit');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.exited.code;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }
}

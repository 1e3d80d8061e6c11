import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Result } from '../../src/shared/contract/define';

// A whole workstation as a process of its own on a branch network's PostgreSQL (issue 12 "Done
// when": several desks as separate processes): `openWorkstation` with OTAC_DATABASE_URL, its own data
// directory, driven at the desk's channels by JSON lines on stdin ({ id, client, channel, payload }),
// answering each with its router's Result ({ id, result }) — what the renderer's calls do, minus
// the transport. Calls may overlap; answers carry the id they answer.

interface Call {
  readonly id: number;
  readonly client: string;
  readonly channel: string;
  readonly payload?: unknown;
}

export class DeskProcess {
  private nextId = 0;
  private readonly pending = new Map<number, (r: Result<unknown>) => void>();
  private stderr = '';

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly dataDir: string,
  ) {
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; result: Result<unknown> };
      this.pending.get(msg.id)?.(msg.result);
      this.pending.delete(msg.id);
    });
  }

  /** Starts a desk on `databaseUrl` and waits until it has opened (migrated) the database. */
  static async start(databaseUrl: string, timeoutMs = 60_000): Promise<DeskProcess> {
    const dataDir = mkdtempSync(join(tmpdir(), 'otac-desk-'));
    const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
      env: { ...process.env, OTAC_DATABASE_URL: databaseUrl, OTAC_DESK_DATA_DIR: dataDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const desk = new DeskProcess(child, dataDir);
    const ready = await Promise.race([
      desk.dispatch('probe', 'auth:status', {}),
      new Promise<never>((_, reject) => {
        setTimeout(() => reject(new Error(`the desk did not start: ${desk.stderr}`)), timeoutMs);
        child.once('exit', (code) => reject(new Error(`the desk exited (${code}): ${desk.stderr}`)));
      }),
    ]);
    if (!ready.ok) throw new Error(`the desk answered auth:status with ${JSON.stringify(ready)}`);
    return desk;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  dispatch(client: string, channel: string, payload: unknown = {}): Promise<Result<unknown>> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, client, channel, payload } satisfies Call)}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.stdin.end();
      await exited;
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The child: a desk on OTAC_DATABASE_URL answering router calls until stdin closes. */
async function serve(): Promise<void> {
  const { openWorkstation } = await import('../../src/core/workstation');
  const { testMailer } = await import('./mailer');
  const ws = await openWorkstation({
    dataDir: process.env['OTAC_DESK_DATA_DIR'] ?? '',
    shell: 'browser',
    version: 'test',
    mailer: testMailer(),
  });
  const lines = createInterface({ input: process.stdin });
  const inFlight = new Set<Promise<void>>();
  for await (const line of lines) {
    const call = JSON.parse(line) as Call;
    const done = ws.router.dispatch(call.client, call.channel, call.payload).then((result) => {
      process.stdout.write(`${JSON.stringify({ id: call.id, result })}\n`);
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  }
  await Promise.all(inFlight);
  await ws.close();
}

// Only the child has a data directory in its environment: the test process imports the class.
if (process.env['OTAC_DESK_DATA_DIR']) {
  serve().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

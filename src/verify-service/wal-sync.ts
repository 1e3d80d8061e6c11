import { close, fdatasync, fstatSync, openSync, statSync } from 'node:fs';

// Group commit for the service's acceptances (docs/verification-service.md "Durability").
//
// With `synchronous = NORMAL` in WAL mode, SQLite writes each commit's frames to the WAL file (the
// write() has returned when the transaction does) but does not fsync it. `durable()` resolves once an
// fsync of the WAL, started after the call, has finished: every commit made before the call is then
// on disk. Requests that arrive while an fsync is running share the next one, so N concurrent
// acceptances cost one or two fsyncs instead of N, and the fsync runs on libuv's thread pool while
// the event loop keeps verifying. fdatasync(2) flushes the file (the inode), whichever descriptor
// wrote it, so our own read-only descriptor of the -wal file covers SQLite's writes. If the WAL file is
// ever replaced (another inode at the path), the descriptor is opened again before syncing.

export class WalSync {
  private fd: number;
  private ino: number;
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** fsyncs done, for tests and metrics: fewer than the acceptances when commits were grouped. */
  syncs = 0;

  constructor(private readonly walFile: string) {
    this.fd = openSync(walFile, 'r');
    this.ino = fstatSync(this.fd).ino;
  }

  /** Resolves when everything committed before this call is on disk. */
  durable(): Promise<void> {
    if (!this.running) return this.start();
    // An fsync is running, but it may have begun before our commit: wait for the next one, which
    // every caller arriving meanwhile shares.
    this.queued ??= this.running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  close(): void {
    close(this.fd, () => undefined);
  }

  private startQueued(): Promise<void> {
    this.queued = null;
    return this.start();
  }

  private start(): Promise<void> {
    const run = this.sync().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private sync(): Promise<void> {
    const ino = statSync(this.walFile).ino;
    if (ino !== this.ino) {
      close(this.fd, () => undefined);
      this.fd = openSync(this.walFile, 'r');
      this.ino = ino;
    }
    return new Promise((resolve, reject) =>
      // fdatasync, as SQLite itself syncs its WAL on Linux: the data and the size needed to read it
      // back, without the timestamps (which would cost a journal commit of the filesystem each time).
      fdatasync(this.fd, (err) => {
        if (err) return reject(err);
        this.syncs++;
        resolve();
      }),
    );
  }
}

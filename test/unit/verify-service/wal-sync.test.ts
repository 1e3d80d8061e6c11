import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WalSync } from '../../../src/verify-service/wal-sync';

// The group commit's fsync: callers that arrive together share one fsync (or the next one, when an
// fsync had already begun before them); none resolves on an fsync that began before its call.

describe('WalSync group commit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'otac-walsync-'));
  const wal = join(dir, 'x.db-wal');
  writeFileSync(wal, 'frames');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('64 callers at once share at most two fsyncs; a caller after they settle gets a fresh one', async () => {
    const sync = new WalSync(wal);
    await Promise.all(Array.from({ length: 64 }, () => sync.durable()));
    expect(sync.syncs).toBeGreaterThanOrEqual(1);
    expect(sync.syncs).toBeLessThanOrEqual(2);
    const before = sync.syncs;
    await sync.durable();
    expect(sync.syncs).toBe(before + 1);
    sync.close();
  });

  it('a caller arriving while an fsync runs waits for the next one, shared with the others arriving then', async () => {
    const sync = new WalSync(wal);
    const first = sync.durable(); // starts fsync 1
    appendFileSync(wal, 'more frames'); // a commit made while fsync 1 may already be past it
    // When the later callers are released, the count they see is the one of the fsync after theirs began.
    const later = Promise.all([sync.durable(), sync.durable(), sync.durable()]).then(() => sync.syncs);
    await first;
    expect(sync.syncs).toBe(1);
    expect(await later).toBe(2); // released by fsync 2, which the three shared
    sync.close();
  });

  it('follows the WAL file when it is replaced by another at the same path', async () => {
    const sync = new WalSync(wal);
    rmSync(wal);
    writeFileSync(wal, 'new file');
    await sync.durable();
    expect(sync.syncs).toBe(1);
    sync.close();
  });
});

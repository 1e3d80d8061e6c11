import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWorkstation } from '../../../src/core/workstation';
import { createKeystore } from '../../support/keys';
import { setupOfficer } from '../../support/operators';

// The data directory holds password hashes, the audit trail, the keystore and its backups. Every
// folder in it must be 0700 and every file 0600 whatever the umask, including what an earlier
// version left behind readable by others.

function modes(root: string): Record<string, string> {
  const out: Record<string, string> = { '.': (statSync(root).mode & 0o777).toString(8) };
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path);
      out[relative(root, path)] = (st.mode & 0o777).toString(8);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

describe.skipIf(process.platform === 'win32')('data directory permissions', () => {
  let parent: string;
  let umask: number;
  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'otac-perm-'));
    umask = process.umask();
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(parent, { recursive: true, force: true });
  });

  for (const mask of [0o022, 0o000]) {
    it(`creates every folder 0700 and every file 0600 under umask ${mask.toString(8).padStart(3, '0')}`, async () => {
      process.umask(mask);
      const dataDir = join(parent, 'fresh', 'workstation');
      const ws = createWorkstation({ dataDir, shell: 'browser', version: 'test' });
      try {
        const officer = await setupOfficer(ws);
        await createKeystore(ws, officer);
        const seen = modes(dataDir);
        // What there is to protect, so the check below cannot pass on an empty folder.
        for (const name of [
          'workstation.db',
          'workstation.db-wal',
          'workstation.db-shm',
          'workstation.lock',
          'logs',
          'logs/workstation.log',
          'keystore',
        ]) {
          expect(seen, name).toHaveProperty([name]);
        }
        expect(Object.keys(seen).some((n) => n.startsWith('keystore/'))).toBe(true);
        for (const [name, mode] of Object.entries(seen)) {
          const dir = statSync(join(dataDir, name)).isDirectory();
          expect(`${name} ${mode}`).toBe(`${name} ${dir ? '700' : '600'}`);
        }
        // The folder the data directory was created in, too (it held nothing before).
        expect((statSync(join(parent, 'fresh')).mode & 0o777).toString(8)).toBe('700');
      } finally {
        await ws.close();
      }
    }, 30_000);
  }

  it('tightens files and folders an earlier version left readable, at start', async () => {
    process.umask(0o022);
    const dataDir = join(parent, 'old');
    mkdirSync(join(dataDir, 'logs'), { recursive: true, mode: 0o755 });
    mkdirSync(join(dataDir, 'keystore', 'backups'), { recursive: true, mode: 0o755 });
    const legacy = {
      '.': 0o755,
      logs: 0o755,
      'logs/workstation.log': 0o644,
      keystore: 0o755,
      'keystore/backups': 0o755,
      'keystore/backups/keystore-backup-20250101T000000.000Z.otacbk': 0o644,
      'keystore/keystore.otacks': 0o644,
      'workstation.db': 0o644,
    };
    for (const [name, mode] of Object.entries(legacy)) {
      const path = join(dataDir, name);
      if (name.includes('.') && name !== '.') writeFileSync(path, name === 'workstation.db' ? '' : 'x');
      chmodSync(path, mode);
    }
    const ws = createWorkstation({ dataDir, shell: 'browser', version: 'test', readers: 'none' });
    try {
      const seen = modes(dataDir);
      for (const name of Object.keys(legacy)) expect(seen, name).toHaveProperty([name]);
      for (const [name, mode] of Object.entries(seen)) {
        const dir = statSync(join(dataDir, name)).isDirectory();
        expect(`${name} ${mode}`).toBe(`${name} ${dir ? '700' : '600'}`);
      }
    } finally {
      await ws.close();
    }
  }, 30_000);
});

import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BACKUP_FILE_NAME } from '../../shared/contract/keys.contract';
import { AppError, isAppError } from '../errors';
import { readBackupCustodians } from './backup-file.codec';
import type { KeystoreActor, KeystoreHolder } from './keystore-holder.service';
import { backupUnsupported } from './keystore.service';
import type { BackupCustodians } from './keystore.types';

export interface BackupFileInfo {
  readonly fileName: string;
  /** From the name main gave the file (UTC), not from file times a copy would change. */
  readonly createdAt: string;
  readonly sizeBytes: number;
  /** The user names of the two custodians whose passphrases open it; empty when the header is unreadable. */
  readonly custodians: string[];
}

/**
 * Encrypted keystore backups in a folder main owns (`<dataDir>/keystore/backups/`). Main names
 * the files; callers pick one by that exact name, never by path. The keystore itself writes,
 * checks, restores and audits (`keystore.backup.*`); this adds the folder, the names and the
 * refusals that should come before a second approver is asked.
 * A later Electron step may copy a backup to removable media through a save dialog in main.
 */
export class KeystoreBackups {
  private busy = false;

  constructor(
    private readonly dir: string,
    private readonly holder: KeystoreHolder,
    private readonly now: () => Date = () => new Date(),
  ) {}

  list(): BackupFileInfo[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((name) => BACKUP_FILE_NAME.test(name))
      .flatMap((name) => {
        const st = lstatSync(join(this.dir, name));
        return st.isFile() ? [this.info(name, st.size)] : [];
      })
      .sort((a, b) => b.fileName.localeCompare(a.fileName));
  }

  /** Refusals that need no approver: locked keystore, HSM backend, another backup running. */
  checkCreate(): void {
    this.holder.current();
    if (this.holder.backend !== 'software') throw backupUnsupported();
    this.checkIdle();
  }

  /** As checkCreate, plus: the name is one of the listed backups, and no ceremony is running. */
  async checkRestore(fileName: string): Promise<void> {
    this.checkCreate();
    this.pathOf(fileName);
    if ((await this.holder.status()).ceremony) {
      throw new AppError(
        'KEYSTORE_CEREMONY_IN_PROGRESS',
        'A key ceremony is in progress. Finish or abort it before restoring a backup; nothing was changed.',
      );
    }
  }

  /** `custodians[0]` is the initiating officer, `custodians[1]` the approver; each typed their own passphrase. */
  async create(custodians: BackupCustodians, actor: KeystoreActor): Promise<BackupFileInfo> {
    this.checkCreate();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const fileName = `keystore-backup-${this.now().toISOString().replace(/[-:]/g, '')}.otacbk`;
    const file = join(this.dir, fileName);
    if (existsSync(file)) throw busy();
    await this.exclusive(() =>
      this.holder.run(actor, (ks) => ks.backupTo(file, custodians, { officer: actor.operator })),
    );
    return this.info(fileName, lstatSync(file).size);
  }

  /**
   * Replaces the keystore's keys with the backup's, kept under the desk's current passphrase.
   * The keystore checks the whole backup before it changes anything, so a refusal leaves it as it was.
   */
  async restore(
    fileName: string,
    passphrases: readonly [string, string],
    actor: KeystoreActor,
  ): Promise<{ restoredKeys: number }> {
    await this.checkRestore(fileName);
    const file = this.pathOf(fileName);
    try {
      return await this.exclusive(() =>
        this.holder.run(actor, async (ks) => {
          await ks.restoreFrom(file, passphrases, { officer: actor.operator });
          return { restoredKeys: (await ks.listKeys()).length };
        }),
      );
    } catch (err) {
      throw isAppError(err) ? restoreError(err, fileName) : err;
    }
  }

  private info(fileName: string, sizeBytes: number): BackupFileInfo {
    let custodians: string[] = [];
    try {
      custodians = readBackupCustodians(readFileSync(join(this.dir, fileName)));
    } catch {
      // A damaged or older file is still listed (a restore then says what is wrong with it).
    }
    return { fileName, createdAt: stampToIso(fileName), sizeBytes, custodians };
  }

  private pathOf(fileName: string): string {
    const file = join(this.dir, fileName);
    // The name check alone rules out paths; a symlink planted in the folder is refused too.
    if (!BACKUP_FILE_NAME.test(fileName) || !existsSync(file) || !lstatSync(file).isFile()) {
      throw new AppError(
        'KEYSTORE_BACKUP_UNKNOWN',
        'There is no backup of that name on this desk. Choose one from the list; nothing was changed.',
      );
    }
    return file;
  }

  private checkIdle(): void {
    if (this.busy) throw busy();
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.checkIdle();
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }
}

/** `keystore-backup-20250102T030405.678Z.otacbk` → `2025-01-02T03:04:05.678Z`. */
function stampToIso(fileName: string): string {
  const s = fileName.slice('keystore-backup-'.length, -'.otacbk'.length);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13)}`;
}

function busy(): AppError {
  return new AppError(
    'KEYSTORE_BUSY',
    'A keystore backup or restore is running. Wait for it to finish, then try again.',
  );
}

// The file codec's messages speak of "the keystore" and advise restoring from a backup, which is
// the wrong advice when the damaged file is the backup itself.
function restoreError(err: AppError, fileName: string): AppError {
  const unchanged = 'the keys on this desk were not changed';
  switch (err.code) {
    case 'KEYSTORE_WRONG_PASSPHRASE':
      // The codec names the custodian whose share did not open.
      return new AppError(err.code, `Backup ${fileName}: ${err.message.replace('nothing was changed', unchanged)}`);
    case 'KEYSTORE_PASSPHRASE_WEAK':
      return new AppError(
        'KEYSTORE_WRONG_PASSPHRASE',
        `A passphrase typed does not open backup ${fileName}. Each custodian types their own backup passphrase; ${unchanged}.`,
      );
    case 'KEYSTORE_TAMPERED':
    case 'KEYSTORE_TRUNCATED':
    case 'KEYSTORE_FOREIGN':
      return new AppError(
        err.code,
        `Backup ${fileName} is damaged or incomplete and fails its integrity check. Choose another backup; ${unchanged}.`,
      );
    default:
      return err;
  }
}

import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../src/card-sim/dev-transport-key';
import { kcvAes, xorComponents } from '../../src/core/crypto/kcv';
import type { DeskWorkstation } from '../../src/core/workstation';
import { approvalFor, approvalOf, value, type TestOperator } from './operators';

// Keystore steps through the contract, as a security officer at the desk would take them.

export const KEYSTORE_PASSPHRASE = 'a long keystore passphrase';
/** The initiating officer's own backup passphrase (custodian 1), unlike the keystore's. */
export const BACKUP_PASSPHRASE = 'the passphrase of the backup';
/** The approver's own backup passphrase (custodian 2). */
export const APPROVER_BACKUP_PASSPHRASE = 'the approver keeps this one';
/** Both custodians' passphrases, in the order a backup lists its custodians. */
export const BACKUP_PASSPHRASES = [BACKUP_PASSPHRASE, APPROVER_BACKUP_PASSPHRASE] as const;

/** Three distinct custodian components (hex, as on the sheets); MK = their XOR. */
export const COMPONENT_HEX = [
  '3c'.repeat(16) + 'a5'.repeat(16),
  '71'.repeat(8) + '0e'.repeat(24),
  'd2'.repeat(20) + '48'.repeat(12),
] as const;
export const componentKcv = (hex: string) => kcvAes(Buffer.from(hex, 'hex'));
export const masterKeyOf = (hexes: readonly string[]) => xorComponents(hexes.map((h) => Buffer.from(h, 'hex')));

export async function createKeystore(ws: DeskWorkstation, officer: TestOperator): Promise<void> {
  value(await ws.router.dispatch(officer.client, 'keys:create', { passphrase: KEYSTORE_PASSPHRASE }));
}

export async function beginCeremony(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
  components: 2 | 3,
): Promise<void> {
  value(
    await ws.router.dispatch(officer.client, 'keys:ceremonyBegin', {
      components,
      approval: await approvalFor(ws, officer, 'keys.ceremony', approver),
    }),
  );
}

/** Component i is entered at `officer`'s desk by `custodians[i]`, who types their own credentials. */
export async function enterComponents(
  ws: DeskWorkstation,
  officer: TestOperator,
  hexes: readonly string[],
  custodians: readonly TestOperator[],
  channel: 'keys:ceremonyEnterComponent' | 'keys:transportEnterComponent' = 'keys:ceremonyEnterComponent',
): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const [i, component] of hexes.entries()) {
    out.push(
      value(
        await ws.router.dispatch(officer.client, channel, {
          index: i + 1,
          component,
          custodian: approvalOf(custodians[i]!),
        }),
      ),
    );
  }
  return out;
}

/** A keystore with a master key generated inside (dual control by `approver`). */
export async function keystoreWithMasterKey(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
): Promise<void> {
  await createKeystore(ws, officer);
  value(
    await ws.router.dispatch(officer.client, 'keys:generateMasterKey', {
      approval: await approvalFor(ws, officer, 'keys.ceremony', approver),
    }),
  );
}

/**
 * An encrypted backup of the open keystore for two custodians: `officer` under BACKUP_PASSPHRASE and
 * `approver` (dual control) under APPROVER_BACKUP_PASSPHRASE.
 */
export async function createBackup(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
): Promise<{ fileName: string; createdAt: string; sizeBytes: number; custodians: string[] }> {
  return value(
    await ws.router.dispatch(officer.client, 'keys:backupCreate', {
      passphrase: BACKUP_PASSPHRASE,
      approverPassphrase: APPROVER_BACKUP_PASSPHRASE,
      approval: await approvalFor(ws, officer, 'keys.backup', approver),
    }),
  ) as { fileName: string; createdAt: string; sizeBytes: number; custodians: string[] };
}

/**
 * The card vendor's two transport key component sheets (hex, 32 digits each). Their XOR is the
 * development stock's transport master key, so blank virtual cards open once they are loaded.
 */
export const TRANSPORT_COMPONENT_HEX = [
  '5a'.repeat(6) + 'c3'.repeat(10),
  xorComponents([Buffer.from('5a'.repeat(6) + 'c3'.repeat(10), 'hex'), DEV_VENDOR_TRANSPORT_MASTER_KEY]).toString(
    'hex',
  ),
] as const;
/** The KCV on the vendor's key sheet: that of the combined key. */
export const TRANSPORT_KCV = kcvAes(DEV_VENDOR_TRANSPORT_MASTER_KEY);

export async function beginTransportCeremony(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
  components: 2 | 3 = 2,
): Promise<void> {
  value(
    await ws.router.dispatch(officer.client, 'keys:transportBegin', {
      components,
      approval: await approvalFor(ws, officer, 'keys.ceremony', approver),
    }),
  );
}

/**
 * Loads the vendor transport key through the Keys channels as a desk does: `officer` begins, `approver`
 * approves, custodian i types component i (by default the officer and the approver).
 */
export async function loadTransportKey(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
  opts: { hexes?: readonly string[]; custodians?: readonly TestOperator[]; kcv?: string } = {},
): Promise<{ version: number; kcv: string }> {
  const hexes = opts.hexes ?? TRANSPORT_COMPONENT_HEX;
  await beginTransportCeremony(ws, officer, approver, hexes.length === 3 ? 3 : 2);
  await enterComponents(ws, officer, hexes, opts.custodians ?? [officer, approver], 'keys:transportEnterComponent');
  return value(
    await ws.router.dispatch(officer.client, 'keys:transportFinish', { expectedKcv: opts.kcv ?? TRANSPORT_KCV }),
  ) as { version: number; kcv: string };
}

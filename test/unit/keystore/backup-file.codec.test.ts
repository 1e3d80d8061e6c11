import { describe, expect, it } from 'vitest';
import { decodeBackupFile, encodeBackupFile, readBackupCustodians } from '../../../src/core/keystore/backup-file.codec';
import { PassphraseKekProvider } from '../../../src/core/keystore/kek-provider';
import { decodeKeystoreFile } from '../../../src/core/keystore/keystore-file.codec';
import { backupHeaderOf, withBackupHeader } from '../../support/backup-header';

// Backup file format 2 (docs/keystore.md): only both custodians' passphrases together open it.

const COST = { N: 2 ** 10, r: 8, p: 1 };
const kek = (passphrase: string) => new PassphraseKekProvider(passphrase, COST);
const ANA = 'ana keeps this passphrase';
const BEN = 'ben keeps another passphrase';
const PAYLOAD = Buffer.from(
  JSON.stringify({ metadata: 'm', keys: [{ ref: 'k-1', value: 'c2VjcmV0IGtleSBieXRlcw==' }] }),
);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'opened';
  } catch (err) {
    return (err as { code?: string }).code ?? 'thrown';
  }
}

describe('keystore backup file, format 2', () => {
  const made = encodeBackupFile(PAYLOAD, [
    { name: 'ana', kek: kek(ANA) },
    { name: 'ben', kek: kek(BEN) },
  ]);

  it('opens with both custodians’ passphrases in the file’s order, and names them without any passphrase', async () => {
    const blob = await made;
    expect(readBackupCustodians(blob)).toEqual(['ana', 'ben']);
    expect((await decodeBackupFile(blob, [kek(ANA), kek(BEN)])).equals(PAYLOAD)).toBe(true);
    expect(blob.includes(PAYLOAD)).toBe(false);
    expect(blob.toString('latin1')).not.toContain('c2VjcmV0');
  });

  it('does not open with one passphrase, the other, both swapped, or one passphrase twice', async () => {
    const blob = await made;
    for (const [a, b] of [
      [ANA, 'a guess at the other passphrase'],
      ['a guess at the first passphrase', BEN],
      [BEN, ANA],
      [ANA, ANA],
      [BEN, BEN],
    ] as const) {
      expect(await codeOf(decodeBackupFile(blob, [kek(a), kek(b)])), `${a} / ${b}`).toBe('KEYSTORE_WRONG_PASSPHRASE');
    }
  });

  it('refuses swapped slots, a share from another file, a renamed custodian and a share forged by one custodian', async () => {
    const blob = await made;
    const other = await encodeBackupFile(PAYLOAD, [
      { name: 'ana', kek: kek(ANA) },
      { name: 'ben', kek: kek(BEN) },
    ]);
    // ana alone makes a file of her own whose second share she controls, and plants that share here.
    const anasOwn = await encodeBackupFile(Buffer.from('anything'), [
      { name: 'ana', kek: kek(ANA) },
      { name: 'ben', kek: kek('ana chose this one too') },
    ]);
    const cases: [string, Buffer, readonly [string, string]][] = [
      ['slots swapped', withBackupHeader(blob, (h) => h.custodians.reverse()), [BEN, ANA]],
      [
        'share from another file',
        withBackupHeader(blob, (h) => (h.custodians[1] = backupHeaderOf(other).custodians[1]!)),
        [ANA, BEN],
      ],
      [
        'share planted',
        withBackupHeader(blob, (h) => (h.custodians[1] = backupHeaderOf(anasOwn).custodians[1]!)),
        [ANA, 'ana chose this one too'],
      ],
      ['custodian renamed', withBackupHeader(blob, (h) => (h.custodians[1]!.name = 'carl')), [ANA, BEN]],
    ];
    for (const [what, forged, [a, b]] of cases) {
      expect(await codeOf(decodeBackupFile(forged, [kek(a), kek(b)])), what).toBe('KEYSTORE_WRONG_PASSPHRASE');
    }
    // The planted share with ana's own id as well: her shares open, but their XOR is not this file's key.
    const planted = withBackupHeader(blob, (h) => {
      h.id = backupHeaderOf(anasOwn).id;
      h.custodians = backupHeaderOf(anasOwn).custodians;
    });
    expect(await codeOf(decodeBackupFile(planted, [kek(ANA), kek('ana chose this one too')]))).toBe(
      'KEYSTORE_TAMPERED',
    );
  });

  it('refuses a flipped body byte, a cut-short file, one custodian twice, and is no keystore file for the old codec', async () => {
    const blob = await made;
    const flipped = Buffer.from(blob);
    flipped[flipped.length - 20]! ^= 1;
    expect(await codeOf(decodeBackupFile(flipped, [kek(ANA), kek(BEN)]))).toBe('KEYSTORE_TAMPERED');
    expect(await codeOf(decodeBackupFile(blob.subarray(0, blob.length - 1), [kek(ANA), kek(BEN)]))).toBe(
      'KEYSTORE_TRUNCATED',
    );
    expect(
      await codeOf(
        encodeBackupFile(PAYLOAD, [
          { name: 'ana', kek: kek(ANA) },
          { name: 'ANA', kek: kek(BEN) },
        ]),
      ),
    ).toBe('KEYSTORE_BACKUP_ONE_CUSTODIAN');
    for (const p of [ANA, BEN]) {
      expect(await codeOf(decodeKeystoreFile(blob, kek(p)))).toBe('KEYSTORE_FOREIGN');
    }
  });
});

/** The JSON header of a format-2 keystore backup (docs/keystore.md), as far as the tests edit it. */
export interface BackupHeader {
  id: string;
  custodians: { name: string }[];
  iv: string;
  payloadLength: number;
}

const headerEnd = (blob: Buffer) => 12 + blob.readUInt32BE(8);

/** The header of a backup file, read as anyone holding the file could. */
export const backupHeaderOf = (blob: Buffer): BackupHeader =>
  JSON.parse(blob.subarray(12, headerEnd(blob)).toString('utf8')) as BackupHeader;

/** The same backup with its header edited as an attacker with the file would: same body, header re-framed. */
export function withBackupHeader(blob: Buffer, edit: (h: BackupHeader) => void): Buffer {
  const header = backupHeaderOf(blob);
  edit(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([blob.subarray(0, 8), len, json, blob.subarray(headerEnd(blob))]);
}

import type { AuditVerification } from '../../shared/contract/audit.contract';
import { GENESIS_HASH, type AuditRow } from './audit.service';
import type { CheckpointRow } from './audit-verify';

export interface AuditExportInput {
  readonly rows: readonly AuditRow[];
  readonly checkpoints: readonly CheckpointRow[];
  readonly keys: readonly { keyId: string; publicKeyPem: string }[];
  readonly verification: AuditVerification;
  readonly exportedAt: string;
  readonly exportedBy: string;
}

export interface ExportFile {
  fileName: string;
  mimeType: string;
  content: string;
}

const ENTRY_COLUMNS = [
  'seq',
  'at',
  'operator_id',
  'operator',
  'role',
  'action',
  'object',
  'outcome',
  'details',
  'prev_hash',
  'hash',
] as const;
const CHECKPOINT_COLUMNS = ['id', 'seq', 'hash', 'signature', 'key_id', 'signed_at'] as const;

/** The rules a verifier elsewhere needs, shipped inside every export (docs/audit.md says the same at length). */
export const VERIFICATION_RULES = {
  entryHash:
    'hash = lowercase hex SHA-256 of the UTF-8 bytes of JSON.stringify([seq, at, operator_id, operator, role, action, ' +
    'object, outcome, details, prev_hash]) with no whitespace (Python: json.dumps(list, ensure_ascii=False, separators=(",", ":"))). ' +
    'seq and operator_id are integers, details is the stored JSON text as a string, absent values are null.',
  chain: `Entry 1 has prev_hash ${GENESIS_HASH}; every later entry has seq one more than the entry before and prev_hash equal to its hash.`,
  checkpoint:
    'A checkpoint signs the UTF-8 bytes of the lines "otac-audit-checkpoint/1", seq, hash, key_id, signed_at joined by "\\n" ' +
    '(no trailing newline) with ECDSA P-256 over SHA-256; signature is base64 of the DER encoding. The entry at seq must have that hash.',
  keyId: 'key_id = first 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo of the public key.',
  trust:
    'Check signatures only against an audit public key kept apart from this export, or its SHA-256 fingerprint as the Audit ' +
    'page shows it: the keys shipped here are a convenience, whoever can rewrite the log can replace them. A log with entries ' +
    'but no checkpoint under that key proves nothing; the anchor (seq and hash) the Audit page shows must be in the log unchanged.',
  csvNulls:
    'In the CSV files an empty unquoted field is null; text is always quoted (RFC 4180), so "" is the empty string.',
} as const;

export function exportJson(input: AuditExportInput): ExportFile {
  const body = {
    format: 'otac-audit-export/1',
    exportedAt: input.exportedAt,
    exportedBy: input.exportedBy,
    rules: VERIFICATION_RULES,
    verificationAtExport: input.verification,
    keys: input.keys,
    checkpoints: input.checkpoints,
    entries: input.rows,
  };
  return {
    fileName: `audit-log-${stamp(input.exportedAt)}.json`,
    mimeType: 'application/json',
    content: JSON.stringify(body, null, 1),
  };
}

/** CSV for spreadsheets, with companion files so the CSV alone can still be verified. */
export function exportCsv(input: AuditExportInput): ExportFile[] {
  const s = stamp(input.exportedAt);
  const readme = [
    `OTAC audit log export, ${input.exportedAt}, by ${input.exportedBy}.`,
    `Entries: ${input.rows.length}. Verification at export: ${input.verification.ok ? 'intact' : `problem at #${input.verification.firstProblem?.seq ?? '?'}`}.`,
    '',
    ...Object.entries(VERIFICATION_RULES).map(([k, v]) => `${k}: ${v}`),
    '',
    'Spreadsheet programs may treat cells starting with = + - @ as formulas; open the files as text to read them safely.',
  ].join('\r\n');
  return [
    { fileName: `audit-log-${s}.csv`, mimeType: 'text/csv', content: toCsv(ENTRY_COLUMNS, input.rows) },
    {
      fileName: `audit-checkpoints-${s}.csv`,
      mimeType: 'text/csv',
      content: toCsv(CHECKPOINT_COLUMNS, input.checkpoints),
    },
    ...input.keys.map((k) => ({
      fileName: `audit-key-${k.keyId}.pem`,
      mimeType: 'application/x-pem-file',
      content: k.publicKeyPem,
    })),
    { fileName: `audit-export-README-${s}.txt`, mimeType: 'text/plain', content: readme + '\r\n' },
  ];
}

type Cell = string | number | null | undefined;

function toCsv<R extends { [K in keyof R]: Cell }>(columns: readonly (keyof R & string)[], rows: readonly R[]): string {
  const lines = [columns.join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

// Exact values, no formula escaping: a changed character would break the hash a verifier recomputes.
function cell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  return `"${value.replaceAll('"', '""')}"`;
}

function stamp(iso: string): string {
  return iso.slice(0, 19).replaceAll(':', '').replace('T', '-');
}

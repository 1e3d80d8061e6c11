import BetterSqlite3 from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuditVerification } from '../../shared/contract/audit.contract';
import { pgSettingsFromEnv, type DatabaseEnv } from '../db/pg/pg-config';
import { PgDatabase } from '../db/pg/pg-database';
import { fingerprintOf, keyIdOf } from './audit-signer';
import { auditSql, keyRecordOf, sqliteChainSource, type AuditKeyRecord } from './audit-store';
import { PgAuditStore } from './audit-store.pg';
import type { AuditRow } from './audit.service';
import {
  arrayChainSource,
  verifyAuditChain,
  verifyAuditChainAsync,
  type AuditChainSource,
  type AuditTrust,
  type CheckpointRow,
} from './audit-verify';

// Verifies the audit log of a data directory (opened read-only, nothing changed) or an exported
// JSON file against an audit public key the auditor holds independently of the log: the key itself,
// or its fingerprint (Audit page → Verify shows it). Exit status: 0 intact, 1 a problem was found,
// 2 the command could not run.
//   npx tsx src/core/audit/audit-cli.ts verify --data-dir DIR --public-key key.pem [--anchor SEQ:HASH]
//   npx tsx src/core/audit/audit-cli.ts verify --export audit-log.json --fingerprint HEX [--anchor SEQ:HASH]
//   OTAC_DATABASE_URL=postgres://… npx tsx src/core/audit/audit-cli.ts verify --database --public-key key.pem
// (the branch network's PostgreSQL, read page by page; the URL comes from the environment, never
// the command line, since it may hold a password — the otac_auditor role is enough).

const USAGE =
  'usage: audit-cli verify (--data-dir DIR | --export FILE.json | --database) (--public-key FILE.pem ... | --fingerprint HEX ...) [--anchor SEQ:HASH]';

const KEY_REQUIRED =
  'A trusted audit key is required: pass --public-key FILE.pem (the audit public key kept apart from the log) or ' +
  '--fingerprint HEX (its SHA-256 fingerprint, shown on the Audit page under Verify). The keys recorded in the log ' +
  'itself prove nothing: whoever can rewrite the log can also replace them and re-sign every checkpoint.';

interface Recorded {
  source: AuditChainSource;
  keys: { keyId: string; publicKeyPem: string }[];
}

interface Prepared {
  readonly values: { 'data-dir'?: string | undefined; export?: string | undefined; database?: boolean | undefined };
  readonly anchor: AuditTrust['anchor'];
  /** The trust for a log whose recorded keys are `keys` (used only when a fingerprint pins one). */
  trust(keys: readonly AuditKeyRecord[]): AuditTrust;
}

/** Parses and checks the arguments; a number is the exit status of a command that cannot run. */
function prepare(argv: readonly string[], out: (line: string) => void): Prepared | number {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      export: { type: 'string' },
      database: { type: 'boolean' },
      'public-key': { type: 'string', multiple: true },
      fingerprint: { type: 'string', multiple: true },
      anchor: { type: 'string' },
    },
  });
  const sources = [values['data-dir'], values.export, values.database].filter(Boolean).length;
  if (positionals[0] !== 'verify' || sources !== 1) {
    out(USAGE);
    return 2;
  }
  const pemFiles = values['public-key'] ?? [];
  const fingerprints = (values.fingerprint ?? []).map((f) => f.replace(/[\s:]/g, '').toLowerCase());
  if (pemFiles.length === 0 && fingerprints.length === 0) {
    out(KEY_REQUIRED);
    out(USAGE);
    return 2;
  }
  const badFingerprint = fingerprints.find((f) => !/^[0-9a-f]{16,64}$/.test(f));
  if (badFingerprint !== undefined) {
    out(
      `The fingerprint "${badFingerprint.slice(0, 70)}" is not 16 to 64 hex digits: pass the audit key's SHA-256 fingerprint (64 digits).`,
    );
    return 2;
  }
  const anchor = values.anchor === undefined ? null : parseAnchor(values.anchor);
  if (anchor === undefined) {
    out('--anchor takes SEQ:HASH, the last signed entry and its 64-digit hash as the Audit page shows them.');
    return 2;
  }
  return {
    values,
    anchor,
    trust: (keys) => {
      const trusted = new Map<string, string>();
      for (const f of pemFiles) {
        const pem = readFileSync(f, 'utf8');
        trusted.set(keyIdOf(pem), pem);
      }
      // A fingerprint pins the key, so the copy recorded with the log may be used once it matches.
      for (const k of keys) {
        if (fingerprints.some((f) => fingerprintOf(k.publicKeyPem).startsWith(f)))
          trusted.set(keyIdOf(k.publicKeyPem), k.publicKeyPem);
      }
      for (const pem of trusted.values()) out(`Trusted audit key ${fingerprintOf(pem)}.`);
      if (trusted.size === 0)
        out('No audit key recorded with this log has the given fingerprint: every checkpoint fails.');
      return { source: 'public-key', keys: trusted, anchor, requireCheckpoint: true };
    },
  };
}

/** A data directory's SQLite file or an export (synchronous); `--database` needs runAuditCliAsync. */
export function runAuditCli(argv: readonly string[], out: (line: string) => void): number {
  const p = prepare(argv, out);
  if (typeof p === 'number') return p;
  const run = (recorded: Recorded): AuditVerification => verifyAuditChain(recorded.source, p.trust(recorded.keys));

  let result: AuditVerification;
  if (p.values.database) {
    out('--database reads the server asynchronously: run the command itself (runAuditCliAsync).');
    return 2;
  }
  if (p.values['data-dir']) {
    const file = join(p.values['data-dir'], 'workstation.db');
    if (!existsSync(file)) {
      out(`No workstation database at ${file}.`);
      return 2;
    }
    const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    try {
      result = run({ source: sqliteChainSource(db), keys: recordedKeys(db) });
    } finally {
      db.close();
    }
  } else {
    const exported = JSON.parse(readFileSync(p.values.export ?? '', 'utf8')) as {
      entries: AuditRow[];
      checkpoints: CheckpointRow[];
      keys: { keyId: string; publicKeyPem: string }[];
    };
    result = run({ source: arrayChainSource(exported.entries, exported.checkpoints), keys: exported.keys });
  }
  return conclude(result, p.anchor, out);
}

/**
 * Every source, `--database` included: the branch network's PostgreSQL named by OTAC_DATABASE_URL
 * (and OTAC_DATABASE_CA), walked page by page through the same store the desks use.
 */
export async function runAuditCliAsync(
  argv: readonly string[],
  out: (line: string) => void,
  env: DatabaseEnv = process.env,
): Promise<number> {
  const p = prepare(argv, out);
  if (typeof p === 'number') return p;
  if (!p.values.database) return runAuditCli(argv, out);
  const settings = pgSettingsFromEnv(env);
  if (!settings) {
    out('--database reads the server OTAC_DATABASE_URL names, and it is not set.');
    return 2;
  }
  const db = new PgDatabase({ ...settings, maxConnections: 2, applicationName: 'otac-audit-cli' });
  try {
    const store = new PgAuditStore(db);
    const result = await verifyAuditChainAsync(store.chainSource(), p.trust(await store.keys()));
    return conclude(result, p.anchor, out);
  } finally {
    await db.close();
  }
}

function recordedKeys(db: BetterSqlite3.Database): AuditKeyRecord[] {
  return (db.prepare(auditSql.keys).all() as { key_id: string; public_key_pem: string }[]).map(keyRecordOf);
}

function conclude(result: AuditVerification, anchor: AuditTrust['anchor'], out: (line: string) => void): number {
  out(
    `${result.entries} entries, ${result.checkpoints} checkpoints, last signed #${result.lastSignedSeq ?? '-'}, ` +
      `${result.unsignedTail} after it unsigned.`,
  );
  if (!anchor) {
    out(
      'Entries after the last valid checkpoint are protected by the chain only; pass --anchor SEQ:HASH from the Audit page to check none were cut off.',
    );
  }
  if (result.firstProblem) {
    out(`BROKEN at #${result.firstProblem.seq} (${result.firstProblem.reason}): ${result.firstProblem.message}`);
    return 1;
  }
  out('Audit log intact.');
  return 0;
}

/** SEQ:HASH; null is never returned, undefined means malformed. */
function parseAnchor(text: string): AuditTrust['anchor'] | undefined {
  const m = /^(\d+):([0-9a-fA-F]{64})$/.exec(text.trim());
  if (!m?.[1] || !m[2]) return undefined;
  return { seq: Number(m[1]), hash: m[2].toLowerCase(), at: 'the time given with --anchor' };
}

if (process.argv[1] && /audit-cli\.[cm]?[jt]s$/.test(process.argv[1])) {
  runAuditCliAsync(process.argv.slice(2), (l) => process.stdout.write(l + '\n')).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
      process.exitCode = 2;
    },
  );
}

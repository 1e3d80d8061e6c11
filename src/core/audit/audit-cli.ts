import BetterSqlite3 from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuditVerification } from '../../shared/contract/audit.contract';
import { keyIdOf } from './audit-signer';
import { dbChainSource } from './audit-checkpoint.service';
import type { AuditRow } from './audit.service';
import { arrayChainSource, verifyAuditChain, type CheckpointRow } from './audit-verify';

// Verifies the audit log of a data directory (opened read-only, nothing changed) or an exported
// JSON file. Exit status: 0 intact, 1 a problem was found, 2 the command could not run.
//   npx tsx src/core/audit/audit-cli.ts verify --data-dir DIR [--public-key key.pem ...]
//   npx tsx src/core/audit/audit-cli.ts verify --export audit-log.json [--public-key key.pem ...]

const USAGE = 'usage: audit-cli verify (--data-dir DIR | --export FILE.json) [--public-key FILE.pem ...]';

export function runAuditCli(argv: readonly string[], out: (line: string) => void): number {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      export: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
    },
  });
  if (positionals[0] !== 'verify' || !!values['data-dir'] === !!values.export) {
    out(USAGE);
    return 2;
  }
  // Keys given on the command line are an independent copy; without them the recorded keys are used.
  const trusted = values['public-key']?.length
    ? new Map(values['public-key'].map((f) => {
        const pem = readFileSync(f, 'utf8');
        return [keyIdOf(pem), pem] as const;
      }))
    : undefined;
  let result: AuditVerification;
  if (values['data-dir']) {
    const file = join(values['data-dir'], 'workstation.db');
    if (!existsSync(file)) {
      out(`No workstation database at ${file}.`);
      return 2;
    }
    const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    try {
      result = verifyAuditChain(dbChainSource(db, trusted));
    } finally {
      db.close();
    }
  } else {
    const exported = JSON.parse(readFileSync(values.export ?? '', 'utf8')) as {
      entries: AuditRow[];
      checkpoints: CheckpointRow[];
      keys: { keyId: string; publicKeyPem: string }[];
    };
    const keys = trusted ?? new Map(exported.keys.map((k) => [k.keyId, k.publicKeyPem] as const));
    result = verifyAuditChain(arrayChainSource(exported.entries, exported.checkpoints, keys));
  }
  out(
    `${result.entries} entries, ${result.checkpoints} checkpoints, last signed #${result.lastSignedSeq ?? '-'}, ` +
      `${result.unsignedTail} after it unsigned.`,
  );
  if (!trusted) out('Signatures checked against the keys recorded with the log; pass --public-key for an independent check.');
  if (result.firstProblem) {
    out(`BROKEN at #${result.firstProblem.seq} (${result.firstProblem.reason}): ${result.firstProblem.message}`);
    return 1;
  }
  out('Audit log intact.');
  return 0;
}

if (process.argv[1] && /audit-cli\.[cm]?[jt]s$/.test(process.argv[1])) {
  try {
    process.exitCode = runAuditCli(process.argv.slice(2), (l) => process.stdout.write(l + '\n'));
  } catch (err) {
    process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exitCode = 2;
  }
}

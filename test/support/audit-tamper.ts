import type { Database } from 'better-sqlite3';
import type { AuditSigner } from '../../src/core/audit/audit-signer';
import { checkpointMessage, type CheckpointRow } from '../../src/core/audit/audit-verify';
import { entryHash, type AuditRow } from '../../src/core/audit/audit.service';

// What an attacker with the database file (or an export) can do: edit rows, recompute every hash,
// sign checkpoints with a key of their own and record it as an audit key. Pure over arrays, and a
// write-back that drops the append-only triggers first.

export interface AuditLogCopy {
  readonly rows: AuditRow[];
  readonly checkpoints: CheckpointRow[];
  readonly keys: { keyId: string; publicKeyPem: string }[];
}

export function readAuditLog(db: Database): AuditLogCopy {
  return {
    rows: db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[],
    checkpoints: db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq, id').all() as CheckpointRow[],
    keys: (
      db.prepare('SELECT key_id, public_key_pem FROM audit_signing_keys').all() as {
        key_id: string;
        public_key_pem: string;
      }[]
    ).map((k) => ({
      keyId: k.key_id,
      publicKeyPem: k.public_key_pem,
    })),
  };
}

/** Rewrites the entries `edit` changes, recomputes the chain from there, and re-signs every checkpoint with `impostor`, whose key is added. */
export async function rewriteAndResign(
  log: AuditLogCopy,
  edit: (row: AuditRow) => AuditRow,
  impostor: AuditSigner,
): Promise<AuditLogCopy> {
  const rows: AuditRow[] = [];
  let prev: string | null = null;
  for (const original of log.rows) {
    const r: AuditRow = { ...edit(original), ...(prev === null ? {} : { prev_hash: prev }) };
    r.hash = entryHash(r);
    rows.push(r);
    prev = r.hash;
  }
  const hashAt = new Map(rows.map((r) => [r.seq, r.hash] as const));
  const checkpoints: CheckpointRow[] = [];
  for (const cp of log.checkpoints) {
    const forged = { ...cp, hash: hashAt.get(cp.seq) ?? cp.hash, key_id: impostor.keyId() };
    checkpoints.push({ ...forged, signature: (await impostor.sign(checkpointMessage(forged))).toString('base64') });
  }
  return { rows, checkpoints, keys: [...log.keys, { keyId: impostor.keyId(), publicKeyPem: impostor.publicKeyPem() }] };
}

/** Replaces the log, checkpoints and recorded keys in the database with `log`. */
export function writeAuditLog(db: Database, log: AuditLogCopy): void {
  for (const t of ['audit_log', 'audit_checkpoints', 'audit_signing_keys']) {
    db.exec(`DROP TRIGGER IF EXISTS ${t}_no_update; DROP TRIGGER IF EXISTS ${t}_no_delete;`);
  }
  db.transaction(() => {
    db.exec('DELETE FROM audit_log; DELETE FROM audit_checkpoints; DELETE FROM audit_signing_keys;');
    const entry = db.prepare(
      `INSERT INTO audit_log (seq, at, operator_id, operator, role, action, object, outcome, details, prev_hash, hash)
       VALUES (@seq, @at, @operator_id, @operator, @role, @action, @object, @outcome, @details, @prev_hash, @hash)`,
    );
    for (const r of log.rows) entry.run(r);
    const cp = db.prepare(
      'INSERT INTO audit_checkpoints (id, seq, hash, signature, key_id, signed_at) VALUES (@id, @seq, @hash, @signature, @key_id, @signed_at)',
    );
    for (const c of log.checkpoints) cp.run(c);
    const key = db.prepare('INSERT INTO audit_signing_keys (key_id, public_key_pem, added_at) VALUES (?, ?, ?)');
    for (const k of log.keys) key.run(k.keyId, k.publicKeyPem, '2026-01-01T00:00:00.000Z');
  })();
}

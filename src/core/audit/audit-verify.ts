import type { AuditVerification } from '../../shared/contract/audit.contract';
import { verifyWithPem } from './audit-signer';
import { entryHash, GENESIS_HASH, type AuditRow } from './audit.service';

export interface CheckpointRow {
  id: number;
  seq: number;
  hash: string;
  /** Base64 of the DER ECDSA signature over checkpointMessage(). */
  signature: string;
  key_id: string;
  signed_at: string;
}

/** The exact bytes a checkpoint signs (documented in docs/audit.md for verifiers elsewhere). */
export function checkpointMessage(cp: Pick<CheckpointRow, 'seq' | 'hash' | 'key_id' | 'signed_at'>): Buffer {
  return Buffer.from(['otac-audit-checkpoint/1', cp.seq, cp.hash, cp.key_id, cp.signed_at].join('\n'), 'utf8');
}

/** What the verifier reads: the database, or an exported file. Lookups are only used after the walk. */
export interface AuditChainSource {
  /** Every entry, ordered by seq. */
  entries(): Iterable<AuditRow>;
  seqOfHash(hash: string): number | undefined;
  nextSeq(after: number): number | undefined;
  checkpoints(): readonly CheckpointRow[];
  publicKeyPem(keyId: string): string | undefined;
}

type Problem = NonNullable<AuditVerification['firstProblem']>;
interface Anomaly {
  row: AuditRow;
  expected: number;
  prevHash: string;
  prevSeq: number;
}

/**
 * Walks the chain once (streaming), then checks each signed checkpoint, and reports the earliest
 * problem with a reason: altered, deleted, inserted, reordered or bad-signature.
 */
export function verifyAuditChain(src: AuditChainSource): AuditVerification {
  const checkpoints = [...src.checkpoints()].sort((a, b) => a.seq - b.seq || a.id - b.id);
  const wanted = new Set(checkpoints.map((c) => c.seq));
  const hashAt = new Map<number, string>();
  let anomaly: Anomaly | null = null;
  let count = 0;
  let prev = { seq: 0, hash: GENESIS_HASH };
  for (const row of src.entries()) {
    count++;
    if (wanted.has(row.seq)) hashAt.set(row.seq, row.hash);
    if (!anomaly && (row.seq !== prev.seq + 1 || row.prev_hash !== prev.hash || entryHash(row) !== row.hash)) {
      anomaly = { row, expected: prev.seq + 1, prevHash: prev.hash, prevSeq: prev.seq };
    }
    prev = { seq: row.seq, hash: row.hash };
  }
  const lastSeq = prev.seq;
  const chainProblem = anomaly ? classify(anomaly, src) : null;
  const problems: Problem[] = chainProblem ? [chainProblem] : [];

  let lastGood = 0;
  let lastSigned: number | null = null;
  for (const cp of checkpoints) {
    const found = checkCheckpoint(cp, src, hashAt, lastSeq, lastGood);
    if (found) {
      // A checkpoint mismatch only bounds a range; a break the chain itself located in it is more precise.
      const located = found.reason === 'altered' && chainProblem !== null && chainProblem.seq <= cp.seq;
      if (!located) problems.push(found);
      continue;
    }
    lastGood = cp.seq;
    lastSigned = cp.seq;
  }
  // The earliest problem wins; on a tie the chain's own finding is the more specific one.
  const firstProblem = problems.reduce<Problem | null>((a, b) => (a && a.seq <= b.seq ? a : b), null);
  return {
    ok: firstProblem === null,
    entries: count,
    checkpoints: checkpoints.length,
    lastSignedSeq: lastSigned,
    unsignedTail: lastSeq - (lastSigned ?? 0),
    firstProblem,
  };
}

function classify(a: Anomaly, src: AuditChainSource): Problem {
  const { row, expected, prevHash, prevSeq } = a;
  if (row.seq !== expected) {
    const range = row.seq - expected > 1 ? `s #${expected}–#${row.seq - 1} are` : ` #${expected} is`;
    return { seq: expected, reason: 'deleted', message: `Entry${range} missing: the log jumps from #${prevSeq} to #${row.seq}.` };
  }
  const intact = entryHash(row) === row.hash;
  if (row.prev_hash === prevHash) {
    return { seq: row.seq, reason: 'altered', message: `Entry #${row.seq} was changed after it was written: it no longer matches its hash.` };
  }
  // The link back is broken: find where the entry written just before this one went.
  const pred = row.prev_hash === GENESIS_HASH ? 0 : src.seqOfHash(row.prev_hash);
  if (pred !== undefined && pred >= row.seq) {
    return { seq: row.seq, reason: 'reordered', message: `Entry #${row.seq} is out of order: the entry written just before it is now #${pred}.` };
  }
  if (pred !== undefined && pred < prevSeq) {
    const first = src.nextSeq(pred) ?? prevSeq;
    return {
      seq: first,
      reason: 'inserted',
      message: `Entries #${first}–#${prevSeq} were inserted: #${row.seq} was written directly after #${pred}.`,
    };
  }
  if (entryHash({ ...row, seq: row.seq + 1 }) === row.hash) {
    return {
      seq: row.seq,
      reason: 'deleted',
      message: `An entry was deleted before #${row.seq} and later entries renumbered: #${row.seq} was written as #${row.seq + 1}.`,
    };
  }
  if (intact && prevSeq > 0) {
    return {
      seq: prevSeq,
      reason: 'altered',
      message: `Entry #${prevSeq} was rewritten with a recomputed hash: #${row.seq} still links to its original content.`,
    };
  }
  return { seq: row.seq, reason: 'altered', message: `Entry #${row.seq} was changed: its link to the previous entry is broken.` };
}

function checkCheckpoint(
  cp: CheckpointRow,
  src: AuditChainSource,
  hashAt: ReadonlyMap<number, string>,
  lastSeq: number,
  lastGood: number,
): Problem | null {
  const pem = src.publicKeyPem(cp.key_id);
  if (!pem) {
    return { seq: cp.seq, reason: 'bad-signature', message: `The checkpoint at #${cp.seq} names key ${cp.key_id}, which is not a known audit key.` };
  }
  if (!verifyWithPem(pem, checkpointMessage(cp), Buffer.from(cp.signature, 'base64'))) {
    return { seq: cp.seq, reason: 'bad-signature', message: `The signature of the checkpoint at #${cp.seq} does not verify: the checkpoint was altered.` };
  }
  if (cp.seq > lastSeq) {
    return {
      seq: lastSeq + 1,
      reason: 'deleted',
      message: `Entries after #${lastSeq} were deleted: a signed checkpoint covers the log up to #${cp.seq}.`,
    };
  }
  const stored = hashAt.get(cp.seq);
  if (stored === undefined) {
    return { seq: cp.seq, reason: 'deleted', message: `Entry #${cp.seq}, covered by a signed checkpoint, is missing.` };
  }
  if (stored !== cp.hash) {
    return {
      seq: lastGood + 1,
      reason: 'altered',
      message: `Entries #${lastGood + 1}–#${cp.seq} no longer match the checkpoint signed at ${cp.signed_at}: they were rewritten.`,
    };
  }
  return null;
}

/** A verifier's view of an exported file (or any in-memory copy). */
export function arrayChainSource(
  rows: readonly AuditRow[],
  checkpoints: readonly CheckpointRow[],
  keys: ReadonlyMap<string, string>,
): AuditChainSource {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  const bySeqOfHash = new Map(sorted.map((r) => [r.hash, r.seq] as const));
  return {
    entries: () => sorted,
    seqOfHash: (hash) => bySeqOfHash.get(hash),
    nextSeq: (after) => sorted.find((r) => r.seq > after)?.seq,
    checkpoints: () => checkpoints,
    publicKeyPem: (keyId) => keys.get(keyId),
  };
}

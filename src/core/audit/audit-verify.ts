import type { AuditVerification } from '../../shared/contract/audit.contract';
import { fingerprintOf, verifyWithPem } from './audit-signer';
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
}

/**
 * What the verifier trusts, all from outside the checked log: the audit public keys (the keystore's own,
 * or a copy the auditor kept), and the anchor the keystore recorded at its last signature.
 */
export interface AuditTrust {
  readonly source: 'keystore' | 'public-key';
  /** key id → PEM. A checkpoint under any other key fails, whatever the log records. */
  readonly keys: ReadonlyMap<string, string>;
  /** The chain must reach it with this hash, and a checkpoint under a trusted key must sit on it. */
  readonly anchor: { readonly seq: number; readonly hash: string; readonly at: string } | null;
  /** A log with entries but no checkpoint at all fails (an export checked elsewhere has no anchor). */
  readonly requireCheckpoint?: boolean;
  /**
   * The anchor is the keystore's live one, which moves with every checkpoint it signs: a checkpoint under
   * a trusted key beyond it was not signed through the anchor (a rolled-back keystore, or the key used
   * directly), so it fails. Not for an anchor written down earlier by an auditor.
   */
  readonly anchorIsLatest?: boolean;
}

export const KEYSTORE_LOCKED_NOTICE =
  'The keystore is locked, so only the hash chain was checked: the checkpoint signatures were not checked against the ' +
  "keystore's audit key, and a rewritten log with re-signed checkpoints would pass. A security officer unlocks the keystore on the Keys page; then verify again.";

type Problem = NonNullable<AuditVerification['firstProblem']>;
interface Anomaly {
  row: AuditRow;
  expected: number;
  prevHash: string;
  prevSeq: number;
}

/** The same view, read asynchronously (a repository on either engine: audit-store.ts). */
export interface AsyncAuditChainSource {
  /** Every entry, ordered by seq, read a page at a time. */
  entries(): AsyncIterable<AuditRow>;
  seqOfHash(hash: string): Promise<number | undefined>;
  nextSeq(after: number): Promise<number | undefined>;
  checkpoints(): Promise<readonly CheckpointRow[]>;
}

type ChainLookups = Pick<AuditChainSource, 'seqOfHash' | 'nextSeq'>;

/** One streaming pass over the entries: keeps only the hashes checkpoints and the anchor need, and the first anomaly. */
class ChainWalk {
  readonly checkpoints: CheckpointRow[];
  private readonly wanted: Set<number>;
  readonly hashAt = new Map<number, string>();
  anomaly: Anomaly | null = null;
  count = 0;
  private prev = { seq: 0, hash: GENESIS_HASH };

  constructor(
    checkpoints: readonly CheckpointRow[],
    readonly trust: AuditTrust | null,
  ) {
    this.checkpoints = [...checkpoints].sort((a, b) => a.seq - b.seq || a.id - b.id);
    this.wanted = new Set(this.checkpoints.map((c) => c.seq));
    if (trust?.anchor) this.wanted.add(trust.anchor.seq);
  }

  add(row: AuditRow): void {
    const prev = this.prev;
    this.count++;
    if (this.wanted.has(row.seq)) this.hashAt.set(row.seq, row.hash);
    if (!this.anomaly && (row.seq !== prev.seq + 1 || row.prev_hash !== prev.hash || entryHash(row) !== row.hash)) {
      this.anomaly = { row, expected: prev.seq + 1, prevHash: prev.hash, prevSeq: prev.seq };
    }
    this.prev = { seq: row.seq, hash: row.hash };
  }

  get lastSeq(): number {
    return this.prev.seq;
  }

  /** The hash classify() looks up (where the broken link's predecessor went), if it needs one. */
  linkToFind(): string | null {
    const a = this.anomaly;
    if (!a || a.row.seq !== a.expected || a.row.prev_hash === a.prevHash) return null;
    return a.row.prev_hash;
  }
}

/**
 * Walks the chain once (streaming), then checks each signed checkpoint against the trusted keys and the
 * chain against the anchor, and reports the earliest problem with a reason: altered, deleted, inserted,
 * reordered or bad-signature. Without trust (keystore locked) only the chain is checked, and the answer says so.
 */
export function verifyAuditChain(src: AuditChainSource, trust: AuditTrust | null): AuditVerification {
  const walk = new ChainWalk(src.checkpoints(), trust);
  for (const row of src.entries()) walk.add(row);
  return conclude(walk, src);
}

/** verifyAuditChain over a repository: entries a page at a time, the two lookups resolved after the walk. */
export async function verifyAuditChainAsync(
  src: AsyncAuditChainSource,
  trust: AuditTrust | null,
): Promise<AuditVerification> {
  const walk = new ChainWalk(await src.checkpoints(), trust);
  for await (const row of src.entries()) walk.add(row);
  const link = walk.linkToFind();
  const pred = link === null ? undefined : link === GENESIS_HASH ? 0 : await src.seqOfHash(link);
  const next = pred === undefined ? undefined : await src.nextSeq(pred);
  return conclude(walk, { seqOfHash: () => pred, nextSeq: () => next });
}

function conclude(walk: ChainWalk, lookups: ChainLookups): AuditVerification {
  const { checkpoints, hashAt, anomaly, count, trust } = walk;
  const anchor = trust?.anchor ?? null;
  const lastSeq = walk.lastSeq;
  const chainProblem = anomaly ? classify(anomaly, lookups) : null;
  const problems: Problem[] = chainProblem ? [chainProblem] : [];

  let lastGood = 0;
  let lastSigned: number | null = null;
  const verified = new Set<number>();
  const located = (p: Problem, upTo: number) =>
    p.reason === 'altered' && chainProblem !== null && chainProblem.seq <= upTo;
  for (const cp of trust ? checkpoints : []) {
    const found = checkCheckpoint(cp, trust?.keys ?? new Map(), hashAt, lastSeq, lastGood);
    if (found) {
      // A checkpoint mismatch only bounds a range; a break the chain itself located in it is more precise.
      if (!located(found, cp.seq)) problems.push(found);
      continue;
    }
    lastGood = cp.seq;
    lastSigned = cp.seq;
    verified.add(cp.seq);
  }
  if (anchor) {
    const found = checkAnchor(anchor, verified, hashAt, lastSeq);
    if (found && !located(found, anchor.seq)) problems.push(found);
    const beyond = trust?.anchorIsLatest ? [...verified].find((seq) => seq > anchor.seq) : undefined;
    if (beyond !== undefined) {
      problems.push({
        seq: beyond,
        reason: 'bad-signature',
        message: `The checkpoint at #${beyond} is signed with the audit key but lies beyond the keystore's anchor (#${anchor.seq}): it was not signed through the keystore's checkpoint signing.`,
      });
    }
  }
  if (trust?.requireCheckpoint && checkpoints.length === 0 && count > 0) {
    problems.push({
      seq: 1,
      reason: 'deleted',
      message:
        'The log has no signed checkpoint: checkpoints were deleted, or none was ever signed. Nothing proves these entries are the ones written.',
    });
  }
  // The earliest problem wins; on a tie the chain's own finding is the more specific one.
  const firstProblem = problems.reduce<Problem | null>((a, b) => (a && a.seq <= b.seq ? a : b), null);
  const [firstKey] = trust?.keys.values() ?? [];
  return {
    ok: firstProblem === null,
    entries: count,
    checkpoints: checkpoints.length,
    lastSignedSeq: lastSigned,
    unsignedTail: lastSeq - (lastSigned ?? 0),
    firstProblem,
    signatures: trust ? trust.source : 'not-checked',
    auditKeyFingerprint: trust?.keys.size === 1 && firstKey ? fingerprintOf(firstKey) : null,
    anchor: anchor ? { seq: anchor.seq, hash: anchor.hash, at: anchor.at } : null,
    notice: trust ? null : KEYSTORE_LOCKED_NOTICE,
  };
}

/** The keystore's anchor: the chain reaches it unchanged, and its checkpoint is still there. */
function checkAnchor(
  anchor: NonNullable<AuditTrust['anchor']>,
  verified: ReadonlySet<number>,
  hashAt: ReadonlyMap<number, string>,
  lastSeq: number,
): Problem | null {
  if (lastSeq < anchor.seq) {
    return {
      seq: lastSeq + 1,
      reason: 'deleted',
      message: `Entries after #${lastSeq} were deleted: the keystore signed the log up to #${anchor.seq} at ${anchor.at}.`,
    };
  }
  if (hashAt.get(anchor.seq) !== anchor.hash) {
    const from = Math.max(0, ...[...verified].filter((seq) => seq < anchor.seq)) + 1;
    return {
      seq: from,
      reason: 'altered',
      message: `Entries #${from}–#${anchor.seq} no longer match what the keystore recorded when it signed #${anchor.seq} at ${anchor.at}: they were rewritten.`,
    };
  }
  // A checkpoint verified at the anchor's seq matched the chain there, which matched the anchor.
  if (!verified.has(anchor.seq)) {
    return {
      seq: anchor.seq,
      reason: 'deleted',
      message: `The checkpoint the keystore signed at #${anchor.seq} (${anchor.at}) is missing from the log: checkpoints were deleted.`,
    };
  }
  return null;
}

function classify(a: Anomaly, src: ChainLookups): Problem {
  const { row, expected, prevHash, prevSeq } = a;
  if (row.seq !== expected) {
    const range = row.seq - expected > 1 ? `s #${expected}–#${row.seq - 1} are` : ` #${expected} is`;
    return {
      seq: expected,
      reason: 'deleted',
      message: `Entry${range} missing: the log jumps from #${prevSeq} to #${row.seq}.`,
    };
  }
  const intact = entryHash(row) === row.hash;
  if (row.prev_hash === prevHash) {
    return {
      seq: row.seq,
      reason: 'altered',
      message: `Entry #${row.seq} was changed after it was written: it no longer matches its hash.`,
    };
  }
  // The link back is broken: find where the entry written just before this one went.
  const pred = row.prev_hash === GENESIS_HASH ? 0 : src.seqOfHash(row.prev_hash);
  if (pred !== undefined && pred >= row.seq) {
    return {
      seq: row.seq,
      reason: 'reordered',
      message: `Entry #${row.seq} is out of order: the entry written just before it is now #${pred}.`,
    };
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
  return {
    seq: row.seq,
    reason: 'altered',
    message: `Entry #${row.seq} was changed: its link to the previous entry is broken.`,
  };
}

function checkCheckpoint(
  cp: CheckpointRow,
  keys: ReadonlyMap<string, string>,
  hashAt: ReadonlyMap<number, string>,
  lastSeq: number,
  lastGood: number,
): Problem | null {
  const pem = keys.get(cp.key_id);
  if (!pem) {
    return {
      seq: cp.seq,
      reason: 'bad-signature',
      message: `The checkpoint at #${cp.seq} is signed by key ${cp.key_id}, which is not the trusted audit key: it was re-signed by someone else.`,
    };
  }
  if (!verifyWithPem(pem, checkpointMessage(cp), Buffer.from(cp.signature, 'base64'))) {
    return {
      seq: cp.seq,
      reason: 'bad-signature',
      message: `The signature of the checkpoint at #${cp.seq} does not verify: the checkpoint was altered.`,
    };
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
export function arrayChainSource(rows: readonly AuditRow[], checkpoints: readonly CheckpointRow[]): AuditChainSource {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  const bySeqOfHash = new Map(sorted.map((r) => [r.hash, r.seq] as const));
  return {
    entries: () => sorted,
    seqOfHash: (hash) => bySeqOfHash.get(hash),
    nextSeq: (after) => sorted.find((r) => r.seq > after)?.seq,
    checkpoints: () => checkpoints,
  };
}

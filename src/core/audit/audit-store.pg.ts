import { sqlState, type PgTransactor } from '../db/pg/pg-database';
import { auditEntryOf, auditQuerySql, type AuditFilter } from './audit-query';
import {
  CHAIN_PAGE,
  auditSql,
  checkpointNotInChain,
  keyRecordOf,
  pagedEntries,
  type AuditKeyRecord,
  type AuditPage,
  type AuditStore,
  type ChainHead,
  type NewCheckpoint,
} from './audit-store';
import type { AuditRow } from './audit.service';
import type { AsyncAuditChainSource, CheckpointRow } from './audit-verify';

// The audit trail's read side and checkpoints on PostgreSQL (issue 12): the statements of
// SqliteAuditStore. Reads see committed entries only, and the chain has no gap among them: an
// append holds the audit_head row lock until it commits (audit-log.pg.ts), so entry n+1 commits
// after entry n. A checkpoint is recorded in a SERIALIZABLE transaction whose one INSERT checks
// "no checkpoint at this seq yet" and "this (seq, hash) is in the chain": two desks recording the
// same head at once read the same absent row and write it, which the engine refuses for one of
// them (40001), and PgDatabase runs that one again — it then finds the other's checkpoint. No
// advisory lock and no new table: docs/audit.md "Checkpoints with several desks".

type Row<T> = T & Record<string, unknown>;

export class PgAuditStore implements AuditStore {
  constructor(private readonly db: PgTransactor) {}

  async query(f: AuditFilter): Promise<AuditPage> {
    const q = auditQuerySql(f);
    const [count] = await this.db.query<{ n: number }>(q.count, q.params);
    const rows = await this.db.query<Row<AuditRow>>(q.page, [...q.params, ...q.pageParams]);
    return { total: count?.n ?? 0, page: f.page, pageSize: f.pageSize, entries: rows.map(auditEntryOf) };
  }

  async head(): Promise<ChainHead | null> {
    const [row] = await this.db.query<Row<ChainHead>>(auditSql.head);
    return row ? { seq: row.seq, hash: row.hash } : null;
  }

  async lastSignedSeq(): Promise<number> {
    const [row] = await this.db.query<{ seq: number | null }>(auditSql.lastSignedSeq);
    return row?.seq ?? 0;
  }

  entriesBetween(after: number, upTo: number): Promise<AuditRow[]> {
    return this.db.query<Row<AuditRow>>(auditSql.between, [after, upTo]);
  }

  chainSource(): AsyncAuditChainSource {
    return {
      entries: () => pagedEntries((after) => this.db.query<Row<AuditRow>>(auditSql.page, [after, CHAIN_PAGE])),
      seqOfHash: async (hash) => (await this.db.query<{ seq: number }>(auditSql.seqOfHash, [hash]))[0]?.seq,
      nextSeq: async (after) =>
        (await this.db.query<{ seq: number | null }>(auditSql.nextSeq, [after]))[0]?.seq ?? undefined,
      checkpoints: () => this.checkpoints(),
    };
  }

  checkpoints(): Promise<CheckpointRow[]> {
    return this.db.query<Row<CheckpointRow>>(auditSql.checkpoints);
  }

  async checkpointAt(seq: number): Promise<CheckpointRow | null> {
    const [row] = await this.db.query<Row<CheckpointRow>>(auditSql.checkpointAt, [seq]);
    return row ?? null;
  }

  async keys(): Promise<AuditKeyRecord[]> {
    const rows = await this.db.query<{ key_id: string; public_key_pem: string }>(auditSql.keys);
    return rows.map(keyRecordOf);
  }

  async insertCheckpoint(cp: NewCheckpoint): Promise<{ checkpoint: CheckpointRow; created: boolean }> {
    try {
      return await this.db.transaction(async (tx) => {
        const [row] = await tx.query<Row<CheckpointRow>>(
          auditSql.insertCheckpoint,
          auditSql.insertCheckpointParams(cp),
        );
        if (row) {
          await tx.query(auditSql.insertKey, auditSql.insertKeyParams(cp));
          return { checkpoint: row, created: true };
        }
        const [existing] = await tx.query<Row<CheckpointRow>>(auditSql.checkpointAt, [cp.seq]);
        if (!existing) throw checkpointNotInChain(cp);
        return { checkpoint: existing, created: false };
      });
    } catch (err) {
      // Defensive: a unique-key refusal here means another desk's transaction got there first (the
      // key's ON CONFLICT normally absorbs it); whatever checkpoint holds the seq now is the answer.
      if (sqlState(err) !== '23505') throw err;
      const [existing] = await this.db.query<Row<CheckpointRow>>(auditSql.checkpointAt, [cp.seq]);
      if (!existing) throw err;
      return { checkpoint: existing, created: false };
    }
  }
}

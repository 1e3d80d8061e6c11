import type { auditChannels } from '../../shared/contract/audit.contract';
import type { Session } from '../auth/session.store';
import type { HandlersFor } from '../rpc/router';
import type { AuditCheckpointService } from './audit-checkpoint.service';
import { exportCsv, exportJson } from './audit-export';
import type { AuditStore } from './audit-store';
import type { AuditRow, AuditTrail } from './audit.service';
import { verifyAuditChainAsync } from './audit-verify';
import type { AuditTrustSource } from './keystore-audit-signer';

export interface AuditHandlerDeps {
  /** The audit trail's read side on the desk's engine (audit-store.ts, audit-store.pg.ts). */
  readonly store: AuditStore;
  readonly audit: AuditTrail;
  readonly checkpoints: AuditCheckpointService;
  /** The keystore's audit key and anchor (null while locked): never keys found in the database. */
  readonly trust: AuditTrustSource;
}

// Reading and exporting the log are audited too: who looked at the evidence, and what they found.
export function auditHandlers(deps: AuditHandlerDeps): HandlersFor<typeof auditChannels> {
  const { store, audit, checkpoints, trust } = deps;
  const actor = (s: Session) => ({ operatorId: s.operatorId, operator: s.username, role: s.role });
  const verify = () => checkpoints.exclusive(async () => verifyAuditChainAsync(store.chainSource(), await trust()));
  return {
    'audit:query': (input) => store.query(input),
    'audit:verify': async (_input, ctx) => {
      const result = await verify();
      await audit.append({
        ...actor(ctx.session),
        action: 'audit.verify',
        outcome: result.ok ? 'ok' : 'failed',
        details: result.firstProblem
          ? {
              entries: result.entries,
              signatures: result.signatures,
              problemSeq: result.firstProblem.seq,
              reason: result.firstProblem.reason,
            }
          : { entries: result.entries, signatures: result.signatures },
      });
      return result;
    },
    'audit:export': async (input, ctx) => {
      const verification = await verify();
      // The export is one file in memory anyway; the entries are still read a page at a time.
      const rows: AuditRow[] = [];
      for await (const row of store.chainSource().entries()) rows.push(row);
      const source = {
        verification,
        rows,
        checkpoints: await checkpoints.checkpoints(),
        keys: await checkpoints.keys(),
        exportedAt: new Date().toISOString(),
        exportedBy: ctx.session.username,
      };
      const files = input.format === 'json' ? [exportJson(source)] : exportCsv(source);
      await audit.append({
        ...actor(ctx.session),
        action: 'audit.export',
        outcome: 'ok',
        details: { format: input.format, entries: source.rows.length },
      });
      return { files };
    },
    'audit:checkpoint': async (_input, ctx) => {
      const cp = await checkpoints.checkpointNow();
      await audit.append({
        ...actor(ctx.session),
        action: 'audit.checkpoint',
        object: `audit:${cp.seq}`,
        outcome: 'ok',
        details: { seq: cp.seq, keyId: cp.key_id },
      });
      return { seq: cp.seq, keyId: cp.key_id, signedAt: cp.signed_at };
    },
  };
}

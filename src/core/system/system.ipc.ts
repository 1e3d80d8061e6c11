import type { Database } from 'better-sqlite3';
import type { systemChannels } from '../../shared/contract/system.contract';
import type { HandlersFor } from '../rpc/router';

export interface SystemInfoSource {
  readonly version: string;
  readonly shell: 'electron' | 'browser';
  readonly dataDir: string;
}

export function systemHandlers(db: Database, info: SystemInfoSource): HandlersFor<typeof systemChannels> {
  const today = () => new Date().toISOString().slice(0, 10);
  return {
    'system:info': () => ({
      product: 'OTAC Issuer Workstation',
      version: info.version,
      shell: info.shell,
      schemaVersion: (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v,
      dataDir: info.dataDir,
    }),
    'dashboard:summary': () => {
      const one = (sql: string, ...args: unknown[]) => (db.prepare(sql).get(...args) as { n: number }).n;
      return {
        operators: one('SELECT count(*) AS n FROM operators WHERE disabled_at IS NULL'),
        lockedOperators: one('SELECT count(*) AS n FROM operators WHERE locked_at IS NOT NULL'),
        auditEntriesToday: one('SELECT count(*) AS n FROM audit_log WHERE substr(at, 1, 10) = ?', today()),
        failedSignInsToday: one(
          "SELECT count(*) AS n FROM audit_log WHERE action = 'auth.signIn' AND outcome != 'ok' AND substr(at, 1, 10) = ?",
          today(),
        ),
        recent: db
          .prepare('SELECT seq, at, operator, action, outcome FROM audit_log ORDER BY seq DESC LIMIT 8')
          .all() as { seq: number; at: string; operator: string | null; action: string; outcome: 'ok' | 'denied' | 'failed' }[],
      };
    },
  };
}

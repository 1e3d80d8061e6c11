import type { Statement } from 'better-sqlite3';
import type { Database } from './database';

/**
 * Statements prepared once per connection and SQL text. The verification path runs the same few
 * statements on every code; preparing one (parsing and planning it) costs more than running it, so
 * a repository on that path keeps them here (docs/verification-service.md "Scale").
 */
export class StatementCache {
  private readonly statements = new Map<string, Statement<unknown[], unknown>>();

  constructor(private readonly db: Database) {}

  get<R = unknown>(sql: string): Statement<unknown[], R> {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare<unknown[], unknown>(sql);
      this.statements.set(sql, s);
    }
    return s as Statement<unknown[], R>;
  }
}

import type { Database } from 'better-sqlite3';

/** One schema step. Files are `NNNN-name.migration.ts`; each has its own test. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database): void;
}

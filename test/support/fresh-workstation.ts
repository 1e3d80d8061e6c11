import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainingCardMaker } from '../../src/card-sim/training-cards';
import {
  createWorkstation,
  openWorkstation,
  type DeskWorkstation,
  type Workstation,
  type WorkstationOptions,
} from '../../src/core/workstation';
import { testMailer } from './mailer';
import type { PgDatabaseOptions } from '../../src/core/db/pg/pg-database';
import { deskSql, freshTestDatabase, registerDeskSql, sqliteSql, testEngine, type DeskSql } from './test-engine';

type FreshOptions = Partial<
  Pick<WorkstationOptions, 'now' | 'readers' | 'mailer' | 'saveFile' | 'support' | 'reissueGate'>
> & {
  keystoreScryptCost?: { N: number; r: number; p: number };
};

/**
 * A desk on the engine the run tests (test-engine.ts): its SQLite file, or with
 * OTAC_TEST_ENGINE=postgres a fresh database on the run's cluster. `sql` looks behind the code on
 * either; all is removed when the test is done.
 */
export async function freshWorkstation(options: FreshOptions = {}): Promise<{
  ws: DeskWorkstation;
  sql: DeskSql;
  dataDir: string;
  dispose: () => Promise<void>;
}> {
  if (testEngine === 'sqlite') {
    const { ws, dataDir, dispose } = freshSqliteWorkstation(options);
    return { ws, sql: deskSql(ws), dataDir, dispose };
  }
  const database = await freshTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'otac-test-'));
  try {
    const ws = await openWorkstation({ ...deskOptions(dataDir, options), database: database.options });
    registerDeskSql(ws, database.sql);
    return {
      ws,
      sql: database.sql,
      dataDir,
      dispose: async () => {
        await ws.close();
        await database.drop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

function deskOptions(dataDir: string, options: FreshOptions): WorkstationOptions {
  const { keystoreScryptCost, ...rest } = options;
  const keystore = keystoreScryptCost
    ? ({
        backend: 'software',
        file: join(dataDir, 'keystore', 'keystore.otacks'),
        scryptCost: keystoreScryptCost,
      } as const)
    : undefined;
  return {
    dataDir,
    shell: 'browser',
    version: 'test',
    mailer: testMailer(), // Chromium starts only when a test prints
    trainingCards: trainingCardMaker,
    ...rest,
    ...(keystore ? { keystore } : {}),
  };
}

/**
 * A desk on its own SQLite file, whatever engine the run tests: for the tests about the file itself
 * (what it holds on disk, a process killed mid-write, SQLite's query plans). `keystoreScryptCost`
 * puts the software keystore (and its backups) on a cheaper scrypt, for tests that derive many keys.
 */
export function freshSqliteWorkstation(options: FreshOptions = {}): {
  ws: Workstation;
  dataDir: string;
  dispose: () => Promise<void>;
} {
  const dataDir = mkdtempSync(join(tmpdir(), 'otac-test-'));
  const ws = createWorkstation(deskOptions(dataDir, options));
  registerDeskSql(ws, sqliteSql(ws.db));
  return {
    ws,
    dataDir,
    dispose: async () => {
      await ws.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const OFFICER = { username: 'sofia', displayName: 'Sofia Officer', password: 'correct horse battery' };

/** A desk that a test restarts, and the database a second process (a verification service) may open. */
export interface RestartableDesk {
  /** The desk running now (a new object after each restart). */
  readonly ws: DeskWorkstation;
  /** The look-up of the desk running now. */
  readonly sql: DeskSql;
  readonly dataDir: string;
  /** The PostgreSQL database the desk runs on; null on SQLite (the database is dataDir's file). */
  readonly database: PgDatabaseOptions | null;
  /** Closes the desk and opens a new one on the same data directory and database: nothing kept in memory. */
  restart(): Promise<DeskWorkstation>;
  dispose(): Promise<void>;
}

/** freshWorkstation for tests of what survives a restart of the workstation, on the engine the run tests. */
export async function restartableWorkstation(options: FreshOptions = {}): Promise<RestartableDesk> {
  const pg = testEngine === 'postgres' ? await freshTestDatabase() : null;
  const dataDir = mkdtempSync(join(tmpdir(), 'otac-test-'));
  const open = async (): Promise<DeskWorkstation> => {
    if (!pg) {
      const ws = createWorkstation(deskOptions(dataDir, options));
      registerDeskSql(ws, sqliteSql(ws.db));
      return ws;
    }
    const ws = await openWorkstation({ ...deskOptions(dataDir, options), database: pg.options });
    registerDeskSql(ws, pg.sql);
    return ws;
  };
  let ws: DeskWorkstation | null = null;
  const cleanUp = async () => {
    await ws?.close();
    ws = null;
    await pg?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    ws = await open();
  } catch (err) {
    await cleanUp();
    throw err;
  }
  const running = (): DeskWorkstation => {
    if (!ws) throw new Error('the desk is closed');
    return ws;
  };
  return {
    get ws() {
      return running();
    },
    get sql() {
      return deskSql(running());
    },
    dataDir,
    database: pg?.options ?? null,
    async restart() {
      await running().close();
      ws = null;
      ws = await open();
      return ws;
    },
    dispose: cleanUp,
  };
}

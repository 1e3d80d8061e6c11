import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratePg } from '../../../src/core/db/pg/migrate-pg';
import { pgSettingsFromEnv } from '../../../src/core/db/pg/pg-config';
import { PgDatabase } from '../../../src/core/db/pg/pg-database';
import { AppError } from '../../../src/core/errors';
import { startPostgres, type TestPostgres } from '../../support/postgres';

// Issue 12 item 4, TLS to the database: a throwaway cluster with ssl=on, a certificate for
// 127.0.0.1/localhost signed by its own CA, and a pg_hba.conf that takes TCP only over TLS. The
// settings a desk reads (OTAC_DATABASE_URL, OTAC_DATABASE_CA) connect with verify-full; a CA that
// did not sign the server's certificate, and a plain connection, are refused with what to set.

const SECRET = 'pw-never-shown-42';
let server: TestPostgres;
let database: string;
const opened: PgDatabase[] = [];

function open(host: string, sslmode: string, ca: string | undefined): PgDatabase {
  const settings = pgSettingsFromEnv({
    OTAC_DATABASE_URL: `postgres://postgres:${SECRET}@${host}:${server.port}/${database}?sslmode=${sslmode}&application_name=desk-tls`,
    OTAC_DATABASE_CA: ca,
  });
  if (!settings) throw new Error('no settings');
  const db = new PgDatabase({ ...settings, connectTimeoutMs: 5000 });
  opened.push(db);
  return db;
}

async function refusal(db: PgDatabase): Promise<AppError> {
  const err: unknown = await db.query('SELECT 1').then(
    () => new Error('expected a refusal, but it connected'),
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`not an AppError: ${String(err)}`);
  return err;
}

beforeAll(async () => {
  server = await startPostgres({ ssl: true, hostsslOnly: true });
  database = await server.createDatabase('tls');
});
afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  server?.stop();
});

describe('TLS to the issuer database', () => {
  it('connects with verify-full and the CA, by address and by name, and the session is encrypted', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const db = open(host, 'verify-full', server.tls!.caPath);
      const [row] = await db.query<{ ssl: boolean; app: string }>(
        `SELECT s.ssl, a.application_name AS app FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
          WHERE s.pid = pg_backend_pid()`,
      );
      expect(row).toEqual({ ssl: true, app: 'desk-tls' });
    }
    // The whole schema goes over it too.
    await migratePg(open('127.0.0.1', 'verify-full', server.tls!.caPath));
  });

  it('refuses a server whose certificate the configured CA did not sign, saying what to set', async () => {
    const err = await refusal(open('127.0.0.1', 'verify-full', server.tls!.otherCaPath));
    expect(err.code).toBe('DB_TLS_UNTRUSTED');
    expect(err.message).toMatch(/OTAC_DATABASE_CA/);
    expect(err.message).toMatch(/Nothing was saved/);
    expect(err.message).not.toContain(SECRET);
  });

  it('a hostssl-only server refuses a plain connection, and the desk is told to turn on verify-full', async () => {
    const err = await refusal(open('127.0.0.1', 'disable', undefined));
    expect(err.code).toBe('DB_TLS_REQUIRED');
    expect(err.message).toMatch(/sslmode=verify-full/);
    expect(err.message).toMatch(/OTAC_DATABASE_CA/);
    expect(err.message).not.toContain(SECRET);
  });

  it('the refusals are the same for every connection of the pool, and a good connection works beside them', async () => {
    const bad = open('127.0.0.1', 'verify-full', server.tls!.otherCaPath);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => bad.query('SELECT 1')));
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as AppError).code : 'connected'))).toEqual(
      Array(6).fill('DB_TLS_UNTRUSTED'),
    );
    expect(await open('localhost', 'verify-full', server.tls!.caPath).query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

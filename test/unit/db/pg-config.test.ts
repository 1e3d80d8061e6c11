import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors';
import { isLocalHost, pgSettingsFromEnv, redactUrl, type DatabaseEnv } from '../../../src/core/db/pg/pg-config';

// Issue 12 item 4: which database, and TLS to it. Off this machine only verify-full with the bank's
// CA is accepted; the password in the URL never shows in what is displayed or thrown.

const CA = '-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n';
const files: Record<string, string> = { '/etc/otac/db-ca.pem': CA, '/etc/otac/not-a-cert.pem': 'hello' };
const readFile = (path: string): string => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
};
const settings = (env: DatabaseEnv) => pgSettingsFromEnv(env, readFile);

function refusal(env: DatabaseEnv): AppError {
  try {
    settings(env);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const SECRET = 'S3cr%40t-pw';

describe('OTAC_DATABASE_URL', () => {
  it('absent or blank means the embedded SQLite file', () => {
    expect(settings({})).toBeNull();
    expect(settings({ OTAC_DATABASE_URL: '  ' })).toBeNull();
  });

  it('a loopback URL without sslmode connects in plain, with the pool size and application name', () => {
    const s = settings({
      OTAC_DATABASE_URL: `postgres://desk01:${SECRET}@127.0.0.1:5433/otac?application_name=desk-01`,
      OTAC_DATABASE_POOL: '16',
    });
    expect(s).toMatchObject({ ssl: false, maxConnections: 16, applicationName: 'desk-01' });
    expect(s?.url).toBe(`postgres://desk01:${SECRET}@127.0.0.1:5433/otac`);
    expect(s?.displayUrl).toBe('postgres://desk01:***@127.0.0.1:5433/otac?application_name=desk-01');
  });

  it('a remote server with verify-full and the CA: TLS checking the certificate and the host name', () => {
    const s = settings({
      OTAC_DATABASE_URL: `postgresql://verify:${SECRET}@db.bank.example:5432/otac?sslmode=verify-full`,
      OTAC_DATABASE_CA: '/etc/otac/db-ca.pem',
    });
    expect(s?.ssl).toEqual({ ca: CA, checkHostname: true });
    // sslmode is taken out of the URL: pg would otherwise let it replace the CA given here.
    expect(s?.url).toBe(`postgresql://verify:${SECRET}@db.bank.example:5432/otac`);
    expect(s?.displayUrl).not.toContain('S3cr');
  });

  it.each([
    ['no sslmode', 'postgres://u:pw@10.1.2.3/otac'],
    ['sslmode=disable', 'postgres://u:pw@db.bank.example/otac?sslmode=disable'],
    ['sslmode=prefer', 'postgres://u:pw@db.bank.example/otac?sslmode=prefer'],
    ['sslmode=require (no check of the server)', 'postgres://u:pw@db.bank.example/otac?sslmode=require'],
    ['sslmode=verify-ca (no check of the name)', 'postgres://u:pw@[2001:db8::5]/otac?sslmode=verify-ca'],
    ['a host= parameter off this machine', 'postgres:///otac?host=db.bank.example'],
  ])('refuses a remote server with %s, saying what to set', (_, url) => {
    const err = refusal({ OTAC_DATABASE_URL: url, OTAC_DATABASE_CA: '/etc/otac/db-ca.pem' });
    expect(err.code).toBe('DB_TLS_REQUIRED');
    expect(err.message).toMatch(/sslmode=verify-full/);
    expect(err.message).toMatch(/OTAC_DATABASE_CA/);
    expect(err.message).not.toContain('pw');
  });

  it('refuses verify-full without a CA file, or with one that is missing or holds no certificate', () => {
    const url = `postgres://u:${SECRET}@db.bank.example/otac?sslmode=verify-full`;
    expect(refusal({ OTAC_DATABASE_URL: url }).code).toBe('DB_TLS_CA_MISSING');
    const missing = refusal({ OTAC_DATABASE_URL: url, OTAC_DATABASE_CA: '/etc/otac/gone.pem' });
    expect(missing).toMatchObject({ code: 'DB_TLS_CA_UNREADABLE' });
    expect(missing.message).toMatch(/gone\.pem.*ENOENT/);
    expect(refusal({ OTAC_DATABASE_URL: url, OTAC_DATABASE_CA: '/etc/otac/not-a-cert.pem' }).code).toBe(
      'DB_TLS_CA_UNREADABLE',
    );
  });

  it('on loopback, verify-full still needs the CA, and require encrypts without a check', () => {
    expect(refusal({ OTAC_DATABASE_URL: 'postgres://u@localhost/otac?sslmode=verify-full' }).code).toBe(
      'DB_TLS_CA_MISSING',
    );
    expect(settings({ OTAC_DATABASE_URL: 'postgres://u@localhost/otac?sslmode=require' })?.ssl).toEqual({
      ca: null,
      checkHostname: false,
    });
    expect(settings({ OTAC_DATABASE_URL: 'postgres:///otac?host=/run/postgresql&sslmode=disable' })?.ssl).toBe(false);
  });

  it('refuses what is not a postgres URL, a URL without a database, an unknown sslmode and a bad pool size', () => {
    expect(refusal({ OTAC_DATABASE_URL: `mysql://u:${SECRET}@db/otac` }).code).toBe('DB_URL_INVALID');
    expect(refusal({ OTAC_DATABASE_URL: `postgres://u:${SECRET}@127.0.0.1:5432` }).code).toBe('DB_URL_INVALID');
    expect(refusal({ OTAC_DATABASE_URL: 'postgres://u@127.0.0.1/otac?sslmode=always' }).code).toBe('DB_URL_INVALID');
    expect(refusal({ OTAC_DATABASE_URL: `postgres://u:${SECRET}@db:99999/otac` }).code).toBe('DB_URL_INVALID');
    for (const pool of ['0', '2.5', 'many', '5000'])
      expect(refusal({ OTAC_DATABASE_URL: 'postgres://u@127.0.0.1/otac', OTAC_DATABASE_POOL: pool }).code).toBe(
        'DB_POOL_INVALID',
      );
  });

  it('never shows the password in an error message', () => {
    const urls = [
      `mysql://u:${SECRET}@db/otac`,
      `postgres://u:${SECRET}@127.0.0.1:5432`,
      `postgres://u:${SECRET}@db.bank.example/otac`,
      `postgres://u:${SECRET}@db:99999/otac`,
      `postgres://u:${SECRET}@127.0.0.1/otac?sslmode=bogus`,
    ];
    for (const url of urls) {
      const err = refusal({ OTAC_DATABASE_URL: url });
      expect(err.message).not.toContain('S3cr');
      expect(JSON.stringify(err.details ?? {})).not.toContain('S3cr');
    }
  });
});

describe('redactUrl and isLocalHost', () => {
  it('replaces the password and leaves the rest readable', () => {
    expect(redactUrl('postgres://desk:pa%3Ass@db:5432/otac')).toBe('postgres://desk:***@db:5432/otac');
    expect(redactUrl('postgres://desk@db/otac')).toBe('postgres://desk@db/otac');
    expect(redactUrl('postgres://desk:pass@db:99999/otac')).toBe('postgres://…');
    expect(redactUrl('postgres://desk:pass@%2Frun%2Fpostgresql/otac')).toBe(
      'postgres://desk:***@%2Frun%2Fpostgresql/otac',
    );
    expect(redactUrl('pass word')).toBe('(not a URL)');
  });

  it('knows loopback addresses and socket directories from other hosts', () => {
    for (const h of ['127.0.0.1', '127.8.0.1', 'localhost', '[::1]', '::1', '', '/run/postgresql'])
      expect(isLocalHost(h)).toBe(true);
    for (const h of ['10.0.0.1', 'db.bank.example', '[2001:db8::1]', 'localhost.evil.example', '128.0.0.1'])
      expect(isLocalHost(h)).toBe(false);
  });
});

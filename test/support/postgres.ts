import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

// A throwaway PostgreSQL cluster for tests (TESTBED.md "PostgreSQL"): Debian's server binaries,
// initdb in a temporary directory, started with pg_ctl on a free loopback port, no system service.
// The server refuses to run as root, so as root it runs as the `postgres` user the package made.

export interface TestPostgres {
  /** postgres:// URL of a database on this cluster (made by `createDatabase`), as the superuser. */
  url(database: string): string;
  /** The loopback port the cluster listens on. */
  readonly port: number;
  /** The cluster's data directory (tables, WAL): for scans of what the server keeps on disk. */
  readonly dataDir: string;
  /** The cluster's TLS files when started with `ssl: true`. */
  readonly tls: TestPostgresTls | null;
  /** A fresh empty database; its name is returned. */
  createDatabase(prefix?: string): Promise<string>;
  /** Superuser SQL, for set-up and for looking behind the code's back in assertions. */
  admin<T extends pg.QueryResultRow>(database: string, sql: string, params?: unknown[]): Promise<T[]>;
  stop(): void;
}

export interface TestPostgresOptions {
  /** `ssl=on` with a server certificate for 127.0.0.1 and localhost signed by a CA made for this cluster. */
  readonly ssl?: boolean;
  /** pg_hba.conf accepts TCP only over TLS (`hostssl`); the superuser's `admin` goes by the Unix socket. */
  readonly hostsslOnly?: boolean;
  /** Roles other than the superuser sign in with their password (scram-sha-256) instead of `trust`. */
  readonly passwords?: boolean;
  /**
   * No flush to disk at commit (fsync, synchronous_commit off): for the test tiers' PostgreSQL pass,
   * whose desks test behaviour, not durability (the crash and backup tests start durable clusters).
   */
  readonly nonDurable?: boolean;
}

export interface TestPostgresTls {
  /** PEM file of the CA that signed the server's certificate. */
  readonly caPath: string;
  /** PEM file of another CA, which signed nothing of this server's. */
  readonly otherCaPath: string;
}

/** Debian's newest PostgreSQL server binaries (initdb, pg_ctl, pgbench, pg_dump, pg_restore). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const v = versions[0];
  if (!v) throw new Error('PostgreSQL server binaries not found: apt-get install postgresql (scripts/setup.sh does)');
  return join(root, v, 'bin');
}

const asRoot = process.getuid?.() === 0;

function run(bin: string, args: string[]): void {
  if (asRoot) {
    const line = [bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', line], { stdio: 'pipe' });
  } else execFileSync(bin, args, { stdio: 'pipe' });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A CA, a server certificate it signs (CN 127.0.0.1, SAN 127.0.0.1 and localhost), and an unrelated CA. */
function makeCertificates(dir: string): { ca: string; otherCa: string; cert: string; key: string } {
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  for (const name of ['ca', 'other-ca'])
    openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=OTAC test ${name}`,
      ...caExt,
    ]);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ]);
  const key = join(dir, 'server.key');
  chmodSync(key, 0o600);
  return { ca: join(dir, 'ca.pem'), otherCa: join(dir, 'other-ca.pem'), cert: join(dir, 'server.crt'), key };
}

export async function startPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'otac-pg-'));
  const owner = asRoot
    ? {
        uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
        gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
      }
    : null;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const settings = [`-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`];
  if (options.nonDurable) settings.push('-c fsync=off -c synchronous_commit=off -c full_page_writes=off');
  let tls: TestPostgresTls | null = null;
  if (options.ssl) {
    const files = makeCertificates(dir);
    if (owner) chownSync(files.key, owner.uid, owner.gid);
    settings.push(`-c ssl=on -c ssl_cert_file=${files.cert} -c ssl_key_file=${files.key}`);
    tls = { caPath: files.ca, otherCaPath: files.otherCa };
  }
  if (options.hostsslOnly || options.passwords) {
    const host = options.hostsslOnly ? 'hostssl' : 'host';
    const others = options.passwords ? 'scram-sha-256' : 'trust';
    const hba = join(dir, 'pg_hba.conf');
    writeFileSync(
      hba,
      [
        'local all all trust',
        `${host} all postgres 127.0.0.1/32 trust`,
        `${host} all all 127.0.0.1/32 ${others}`,
        `${host} all all ::1/128 ${others}`,
        '',
      ].join('\n'),
    );
    if (owner) chownSync(hba, owner.uid, owner.gid);
    settings.push(`-c hba_file=${hba}`);
  }
  try {
    run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-o', settings.join(' '), 'start']);
  } catch (err) {
    const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').slice(-2000) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the throwaway PostgreSQL did not start: ${String(err)}\n${log}`);
  }
  let count = 0;
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const admin = async <T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []) => {
    // By the Unix socket when TCP wants TLS: the superuser's set-up needs no certificate.
    const client = new pg.Client(
      options.hostsslOnly ? { host: dir, port, user: 'postgres', database } : { connectionString: url(database) },
    );
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    url,
    port,
    dataDir: data,
    tls,
    admin,
    async createDatabase(prefix = 't') {
      const name = `${prefix}_${process.pid}_${++count}`;
      await admin('postgres', `CREATE DATABASE ${name}`);
      return name;
    },
    stop() {
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { AuditService } from '../core/audit/audit.service';
import { openDatabase } from '../core/db/database';
import { assertPgSchemaCurrent } from '../core/db/pg/migrate-pg';
import { PgDatabase } from '../core/db/pg/pg-database';
import { pgRepositories } from '../core/db/repositories';
import { PgAuditLog, PgAuditTrail } from '../core/audit/audit-log.pg';
import { PgVerifyClientRepository } from '../core/verification/verify-client.repository.pg';
import { SqliteVerifyClientRepository, VERIFY_SCOPES } from '../core/verification/verify-client.repository';
import { VerifyClientService } from '../core/verification/verify-client.service';

// `npm run verify-client -- create --name <name> --scope verify [--scope read]`, `revoke <key id>`,
// `list`: the clients of the verification service, on the database of OTAC_DATA_DIR (or the shared
// PostgreSQL of OTAC_DATABASE_URL, where a revocation holds at every instance's next request). Run by the
// administrator of the service host under the service's account (only it can open the 0700 data
// directory); each step is audited with the account's name. The key is printed once, by `create`,
// and kept nowhere (the database has SHA-256 of its secret). A desk channel under dual control
// (a manager creates, a second person approves) is the planned replacement (docs/verification-service.md).

const USAGE = `usage: npm run verify-client -- create --name <name> --scope <${VERIFY_SCOPES.join('|')}> [--scope …]
       npm run verify-client -- revoke <key id>
       npm run verify-client -- list`;

export async function run(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const [command, ...rest] = argv;
  const dataDir = resolve(env['OTAC_DATA_DIR'] ?? '.data/workstation');
  const by = `os:${userInfo().username}`;
  const { clients, close } = await openClients(env, dataDir);
  try {
    if (command === 'create') {
      const name = option(rest, '--name');
      const scopes = options(rest, '--scope');
      if (!name) throw new Error(`create needs --name.\n${USAGE}`);
      const { client, apiKey } = await clients.create({ name, scopes, by });
      return [
        `client "${client.name}" created, key id ${client.keyId}, scopes ${client.scopes.join(' ')}`,
        `API key (shown once; store it in the client's secret store now):`,
        apiKey,
      ].join('\n');
    }
    if (command === 'revoke') {
      const keyId = rest[0];
      if (!keyId) throw new Error(`revoke needs the key id.\n${USAGE}`);
      const client = await clients.revoke(keyId, by);
      return `client "${client.name}" (key id ${client.keyId}) revoked`;
    }
    if (command === 'list') {
      const all = await clients.list();
      if (all.length === 0) return 'no clients yet (npm run verify-client -- create --name … --scope verify)';
      return all
        .map(
          (c) => `${c.keyId}  ${c.name}  [${c.scopes.join(' ')}]  ${c.revokedAt ? `revoked ${c.revokedAt}` : 'active'}`,
        )
        .join('\n');
    }
    throw new Error(USAGE);
  } finally {
    await close();
  }
}

/**
 * The clients on the database the service uses: OTAC_DATABASE_URL's PostgreSQL (the schema must be
 * a desk's, migrated: nothing is created here), else the SQLite file in OTAC_DATA_DIR.
 */
async function openClients(
  env: NodeJS.ProcessEnv,
  dataDir: string,
): Promise<{ clients: VerifyClientService; close: () => Promise<void> }> {
  const url = env['OTAC_DATABASE_URL']?.trim();
  if (url) {
    const db = new PgDatabase({ url, maxConnections: 2 });
    try {
      await assertPgSchemaCurrent(db);
    } catch (err) {
      await db.close();
      throw err;
    }
    const audit = new PgAuditTrail(new PgAuditLog(db));
    const { atomically } = pgRepositories(db, audit);
    return {
      clients: new VerifyClientService(new PgVerifyClientRepository(db), audit, undefined, { atomically }),
      close: () => db.close(),
    };
  }
  const db = openDatabase(join(dataDir, 'workstation.db'));
  return {
    clients: new VerifyClientService(new SqliteVerifyClientRepository(db), new AuditService(db)),
    close: async () => {
      db.close();
    },
  };
}

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function options(args: readonly string[], name: string): string[] {
  return args.flatMap((a, i) => (a === name && args[i + 1] !== undefined ? [args[i + 1] as string] : []));
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (out) => console.log(out),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}

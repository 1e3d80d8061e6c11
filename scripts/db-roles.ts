import { readFileSync } from 'node:fs';
import { migratePg } from '../src/core/db/pg/migrate-pg';
import { pgSettingsFromEnv } from '../src/core/db/pg/pg-config';
import { PgDatabase } from '../src/core/db/pg/pg-database';
import { applyRoles, createLoginRole, GROUP_ROLES, type GroupRole } from '../src/core/db/pg/roles';
import { isAppError } from '../src/core/errors';

// npm run db:roles -- <owner's postgres:// URL> [--login <name>:<workstation|verify|auditor>]…
// Run by the database administrator as the role that owns (or will own) the issuer tables: applies
// the migrations, then gives the three groups exactly their grants (src/core/db/pg/roles.ts), then
// makes each --login a login role in its group. The logins' passwords are read from standard input,
// one line per --login in order, so they appear in no command line or shell history; the server
// receives only their SCRAM verifiers. TLS as for a desk: sslmode=verify-full and OTAC_DATABASE_CA
// off this machine. docs/storage.md "Branch network: roles".

const GROUPS: Record<string, GroupRole> = {
  workstation: 'otac_workstation',
  verify: 'otac_verify',
  auditor: 'otac_auditor',
};

function usage(): never {
  console.error(
    'usage: npm run db:roles -- <postgres://owner@host/database?sslmode=verify-full> [--login <name>:<workstation|verify|auditor>]…\n' +
      '       passwords for the logins: one line each on standard input, in the same order',
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let url = process.env['OTAC_DATABASE_ADMIN_URL'];
  const logins: { name: string; group: GroupRole }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--login') {
      const [name, kind] = (argv[++i] ?? usage()).split(':');
      const group = GROUPS[kind ?? ''];
      if (!name || !group) usage();
      logins.push({ name, group });
    } else if (!arg.startsWith('-')) url = arg;
    else usage();
  }
  if (!url) usage();
  const settings = pgSettingsFromEnv({ OTAC_DATABASE_URL: url, OTAC_DATABASE_CA: process.env['OTAC_DATABASE_CA'] });
  if (!settings) usage();
  const passwords = logins.length ? readFileSync(0, 'utf8').split(/\r?\n/) : [];
  const db = new PgDatabase({ ...settings, maxConnections: 2, applicationName: 'otac db:roles' });
  try {
    await migratePg(db);
    await applyRoles(db);
    console.log(`${settings.displayUrl}: schema up to date; grants applied to ${GROUP_ROLES.join(', ')}`);
    for (const [i, login] of logins.entries()) {
      const password = passwords[i] ?? '';
      await createLoginRole(db, login.name, login.group, password);
      console.log(`login ${login.name} in ${login.group}`);
    }
    return 0;
  } finally {
    await db.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // AppErrors say what to do; anything else is shown by its message (never the URL: it may hold the owner's password).
    console.error(
      isAppError(err) ? `${err.code}: ${err.message}` : `failed: ${err instanceof Error ? err.message : String(err)}`,
    );
    process.exit(1);
  },
);

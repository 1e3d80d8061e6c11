import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { AppError } from '../../errors';
import type { PgDatabase } from './pg-database';

// Least-privilege database roles for a branch network (issue 12 item 4; docs/storage.md "Branch
// network: roles"). The tables belong to the role that ran the migrations (the owner: the DBA's
// login, used only for `npm run db:roles` and upgrades). Everyone else logs in with a login role
// that is a member of one NOLOGIN group:
// - otac_workstation: what a desk does; no DELETE anywhere (no repository deletes) except the usage
//   rollup a trigger rebuilds, no UPDATE on an append-only table;
// - otac_verify: what the verification service reads and writes, nothing else — no operators, no
//   customers, no policies to change, the audit log only appended to;
// - otac_auditor: reads the audit trail and the review tables, writes nothing, and never sees a
//   password hash, an API key's hash or a passkey tag (column-level grants).
// Each grant was worked out from the SQL the repositories run (the `*.repository.ts` statement
// texts both engines share, audit-log.pg.ts, src/core/verification, src/verify-service), including
// what the triggers do as the invoking role (migrations 0018–0020 read card_reissues and
// support_cases on a card's state change; a branch move rebuilds code_use_days).
// The grants are applied from scratch each time (REVOKE ALL first), so running it again after an
// upgrade gives a new table exactly what this file says, and a table not named here nobody.

export type GroupRole = 'otac_workstation' | 'otac_verify' | 'otac_auditor';
export const GROUP_ROLES: readonly GroupRole[] = ['otac_workstation', 'otac_verify', 'otac_auditor'];

/** A role's privileges on one table; `columns` limits UPDATE (or, with `hide`, SELECT) to some columns. */
export interface TableGrant {
  readonly select?: boolean | { readonly hide: readonly string[] };
  readonly insert?: boolean;
  readonly update?: boolean | readonly string[];
  readonly delete?: boolean;
}
export type RoleGrants = Readonly<Record<string, TableGrant>>;

/** Tables whose rows are never changed once written (triggers refuse it too, for everyone but the owner's DDL). */
export const APPEND_ONLY_TABLES = [
  'audit_log',
  'audit_checkpoints',
  'audit_signing_keys',
  'policy_versions',
  'code_uses',
  'verify_rejections',
] as const;

const R: TableGrant = { select: true };
const RI: TableGrant = { select: true, insert: true };
const RIU: TableGrant = { select: true, insert: true, update: true };

/** Columns that let someone check a guessed secret offline: no one but the desk reads them. */
const SECRET_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  operators: ['password_hash'],
  verify_clients: ['key_hash'],
  support_cases: ['passkey_tag'],
};

export const ROLE_GRANTS: Readonly<Record<GroupRole, RoleGrants>> = {
  otac_workstation: {
    otac_database: R,
    schema_migrations: R,
    // Sign-in reads the password hash; Admin creates operators and changes their state.
    operators: RIU,
    audit_log: RI,
    // The append's lock and move, as for otac_verify below (moved only by appending, 0023).
    audit_head: { select: true, update: ['seq', 'hash'] },
    audit_checkpoints: RI,
    audit_signing_keys: RI,
    policy_versions: RI,
    card_key_series: RIU,
    customers: RIU,
    cards: RIU,
    code_lists: RIU,
    code_uses: RI,
    mailer_prints: RIU,
    verify_clients: RIU,
    verification_failures: RIU,
    verify_rejections: RI,
    suspicion_events: RIU,
    verify_challenges: RIU,
    support_cases: RIU,
    card_reissues: RIU,
    // The usage rollup: folded by the desk; a customer's branch move empties it (0019's trigger).
    code_use_days: { select: true, insert: true, update: true, delete: true },
    code_use_days_mark: { select: true, update: true },
  },
  otac_verify: {
    otac_database: R,
    schema_migrations: R,
    cards: R,
    card_key_series: R,
    policy_versions: R,
    verify_clients: R,
    // A use mark moves the counters only (listSql.markUse); a refill due is queued as a new
    // 'prepared' list (ListService.queueNext). State, sealing and activation stay the desk's.
    code_lists: { select: true, insert: true, update: ['next_index', 'used_count', 'version', 'refill_due'] },
    code_uses: RI,
    verification_failures: RIU,
    verify_rejections: RI,
    suspicion_events: RI,
    verify_challenges: { select: true, insert: true, update: ['answered_at', 'outcome'] },
    // Appends only: INSERT into the log, and the chain head it locks (SELECT … FOR UPDATE) and that
    // the insert's trigger moves with the invoker's rights; the head's own trigger refuses any other
    // move (migration 0023), so this UPDATE right moves it nowhere by hand.
    audit_log: { insert: true },
    audit_head: { select: true, update: ['seq', 'hash'] },
  },
  otac_auditor: {
    otac_database: R,
    schema_migrations: R,
    audit_log: R,
    audit_head: R,
    audit_checkpoints: R,
    audit_signing_keys: R,
    policy_versions: R,
    operators: { select: { hide: SECRET_COLUMNS['operators'] ?? [] } },
    customers: R,
    cards: R,
    card_key_series: R,
    code_lists: R,
    code_uses: R,
    code_use_days: R,
    mailer_prints: R,
    verify_clients: { select: { hide: SECRET_COLUMNS['verify_clients'] ?? [] } },
    verification_failures: R,
    verify_rejections: R,
    suspicion_events: R,
    verify_challenges: R,
    support_cases: { select: { hide: SECRET_COLUMNS['support_cases'] ?? [] } },
    card_reissues: R,
  },
};

const ident = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain SQL name: ${name}`);
  return `"${name}"`;
};

async function roleExists(db: PgDatabase, name: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM pg_roles WHERE rolname = ?', [name])).length > 0;
}

async function columnsOf(db: PgDatabase): Promise<Map<string, string[]>> {
  const rows = await db.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
  );
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.table_name, [...(out.get(r.table_name) ?? []), r.column_name]);
  return out;
}

/** The statements that give `role` exactly `grants` on the tables that exist (`columns`). */
export function grantStatements(role: GroupRole, grants: RoleGrants, columns: ReadonlyMap<string, string[]>): string[] {
  const out: string[] = [];
  const r = ident(role);
  for (const [table, g] of Object.entries(grants)) {
    const cols = columns.get(table);
    if (!cols) throw new Error(`roles.ts names table ${table}, which the database does not have`);
    const t = ident(table);
    const whole = [
      g.select === true && 'SELECT',
      g.insert && 'INSERT',
      g.update === true && 'UPDATE',
      g.delete && 'DELETE',
    ]
      .filter((p): p is string => typeof p === 'string')
      .join(', ');
    if (whole) out.push(`GRANT ${whole} ON ${t} TO ${r}`);
    if (typeof g.select === 'object') {
      const visible = cols.filter((c) => !g.select || typeof g.select !== 'object' || !g.select.hide.includes(c));
      out.push(`GRANT SELECT (${visible.map(ident).join(', ')}) ON ${t} TO ${r}`);
    }
    if (Array.isArray(g.update)) out.push(`GRANT UPDATE (${g.update.map(ident).join(', ')}) ON ${t} TO ${r}`);
  }
  return out;
}

/**
 * Creates the three group roles (NOLOGIN) when missing and gives each exactly its grants on this
 * database, after taking everything away from them and from PUBLIC. Run as the tables' owner after
 * `migratePg`, and again after every upgrade. One transaction: all of it or nothing.
 */
export async function applyRoles(db: PgDatabase): Promise<void> {
  const columns = await columnsOf(db);
  if (!columns.has('otac_database'))
    throw new AppError(
      'DB_NOT_MIGRATED',
      'This database has no issuer schema yet: run the migrations first (npm run db:roles does, as the owner).',
    );
  for (const role of GROUP_ROLES) {
    if (!(await roleExists(db, role))) {
      try {
        await db.query(`CREATE ROLE ${ident(role)} NOLOGIN`);
      } catch (err) {
        // Another database of this cluster set the roles up at the same moment.
        if ((err as { code?: string }).code !== '42710') throw err;
      }
    }
  }
  const [{ name: database } = { name: '' }] = await db.query<{ name: string }>('SELECT current_database() AS name');
  const tables = [...columns.keys()];
  await db.transaction(async (tx) => {
    await tx.query(`REVOKE ALL ON DATABASE ${quoteIdent(database)} FROM PUBLIC`);
    await tx.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    for (const role of GROUP_ROLES) {
      const r = ident(role);
      await tx.query(`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${r}`);
      await tx.query(`GRANT USAGE ON SCHEMA public TO ${r}`);
      for (const table of tables) {
        await tx.query(`REVOKE ALL ON ${ident(table)} FROM ${r}`);
      }
    }
    for (const table of tables) await tx.query(`REVOKE ALL ON ${ident(table)} FROM PUBLIC`);
    for (const role of GROUP_ROLES)
      for (const sql of grantStatements(role, ROLE_GRANTS[role], columns)) await tx.query(sql);
  }, 'read committed');
}

/** A database name as an identifier (it may hold characters ident refuses; doubled quotes escape). */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as psql's \password
 * computes it): the server is sent the verifier, never the password, so no statement log, no
 * pg_stat_activity and no error text can show it. ASCII passwords only (SASLprep is identity there).
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * A login role for one desk, verification instance or auditor, member of `group` only. Made again
 * (new password, group) when it exists. Refuses names of the groups themselves and short passwords.
 */
export async function createLoginRole(db: PgDatabase, name: string, group: GroupRole, password: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || GROUP_ROLES.includes(name as GroupRole))
    throw new AppError(
      'DB_ROLE_NAME',
      `"${name}" cannot be a login role: use lower-case letters, digits and _ (for example desk_branch01), not a group's name.`,
    );
  if (password.length < 16 || !/^[\x20-\x7e]+$/.test(password))
    throw new AppError(
      'DB_ROLE_PASSWORD',
      'A database login password must be at least 16 printable ASCII characters (generate one; it goes into OTAC_DATABASE_URL).',
    );
  const verifier = scramVerifier(password);
  const n = ident(name);
  if (await roleExists(db, name)) await db.query(`ALTER ROLE ${n} LOGIN PASSWORD '${verifier}'`);
  else await db.query(`CREATE ROLE ${n} LOGIN PASSWORD '${verifier}'`);
  for (const other of GROUP_ROLES) if (other !== group) await db.query(`REVOKE ${ident(other)} FROM ${n}`);
  await db.query(`GRANT ${ident(group)} TO ${n}`);
}

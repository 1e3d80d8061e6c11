import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import { AppError } from '../errors';
import {
  VERIFY_SCOPES,
  type VerifyClientRecord,
  type VerifyClientRepository,
  type VerifyScope,
} from './verify-client.repository';

// API keys of the verification service's clients (docs/verification-service.md "Clients"). A key is
// shown once, when it is made; the database keeps SHA-256 of its secret. Creating and revoking are
// audited with the key id, never the key.

/** `otac_` + key id (8 random bytes, hex) + `_` + secret (32 random bytes, base64url). */
const KEY_FORMAT = /^otac_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** The client a request authenticated as (no hash, no key). */
export interface VerifyClient {
  readonly keyId: string;
  readonly name: string;
  readonly scopes: readonly VerifyScope[];
  readonly createdAt: string;
  readonly createdBy: string;
  readonly revokedAt: string | null;
}

const publicView = (r: VerifyClientRecord): VerifyClient => ({
  keyId: r.keyId,
  name: r.name,
  scopes: r.scopes,
  createdAt: r.createdAt,
  createdBy: r.createdBy,
  revokedAt: r.revokedAt,
});

const hashSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');

export class VerifyClientService {
  /**
   * Keys already checked, by the key as sent: the verification service authenticates every request,
   * and SHA-256 plus the row's lookup were a tenth of its CPU per request. Only with
   * `changedElsewhere` (the service's connection: true once another connection committed since the
   * last call, `PRAGMA data_version`), and emptied whenever it says so, or a key is revoked here: a
   * revocation by the CLI or the desk still takes effect at the next request. Unknown and revoked
   * keys are never kept, so the cache holds at most the clients' own keys.
   */
  private readonly checked = new Map<string, VerifyClient>();
  private readonly changedElsewhere: (() => boolean) | null;
  private readonly atomically: Atomically | null;
  /**
   * Keys already checked, for the calls whose use checks the key again in its own read (PostgreSQL:
   * the decision's read, verification-store.pg.ts): `authenticate(key, { confirmedAtUse: true })`
   * answers from here, and the caller passes the key id on to be confirmed there. Saves a round trip
   * per verification; a revocation at any desk still refuses the key's next request (the read's
   * check), and every other call looks the key up as before.
   */
  private readonly confirmedAtUse: Map<string, VerifyClient> | null;

  constructor(
    private readonly repo: VerifyClientRepository,
    private readonly audit: AuditTrail,
    private readonly now: () => Date = () => new Date(),
    options: {
      changedElsewhere?: () => boolean;
      /**
       * A client's creation or revocation commits with its entry (repositories.ts): given wherever the
       * clients table is shared (PostgreSQL). Without it the entry follows the change, as a SQLite unit does.
       */
      atomically?: Atomically;
      confirmedAtUse?: boolean;
    } = {},
  ) {
    this.changedElsewhere = options.changedElsewhere ?? null;
    this.atomically = options.atomically ?? null;
    this.confirmedAtUse = options.confirmedAtUse ? new Map() : null;
  }

  /** `work` on the unit's repository and audit trail, or (no unit given) on the service's own. */
  private unit<T>(work: (repo: VerifyClientRepository, audit: Pick<AuditTrail, 'append'>) => Promise<T>): Promise<T> {
    return this.atomically
      ? this.atomically((tx) => work(tx.repos.verifyClients, tx.audit))
      : work(this.repo, this.audit);
  }

  /** A new client; the API key is in this answer and nowhere else. */
  async create(opts: {
    name: string;
    scopes: readonly string[];
    by: string;
  }): Promise<{ client: VerifyClient; apiKey: string }> {
    const name = opts.name.trim();
    if (name.length < 1 || name.length > 80)
      throw new AppError('VERIFY_CLIENT_NAME', 'Name the client in 1 to 80 characters (e.g. "online-banking").');
    const scopes = [...new Set(opts.scopes)];
    const unknown = scopes.filter((s) => !(VERIFY_SCOPES as readonly string[]).includes(s));
    if (scopes.length === 0 || unknown.length > 0)
      throw new AppError(
        'VERIFY_CLIENT_SCOPE',
        `Give the client one or more scopes of: ${VERIFY_SCOPES.join(', ')}` +
          (unknown.length ? ` ("${unknown[0]?.slice(0, 20)}" is not one).` : '.'),
      );
    const keyId = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const createdAt = this.now().toISOString();
    const record = await this.unit(async (repo, audit) => {
      const r = await repo.insert({
        keyId,
        keyHash: hashSecret(secret),
        name,
        scopes: scopes as VerifyScope[],
        createdAt,
        createdBy: opts.by,
      });
      await audit.append({
        operatorId: null,
        operator: opts.by,
        role: null,
        action: 'verify_client.created',
        object: `verify-client:${keyId}`,
        outcome: 'ok',
        details: { name, scopes: scopes.join(' ') },
      });
      return r;
    });
    return { client: publicView(record), apiKey: `otac_${keyId}_${secret}` };
  }

  async revoke(keyId: string, by: string): Promise<VerifyClient> {
    this.checked.clear();
    this.confirmedAtUse?.clear();
    const at = this.now().toISOString();
    const revoked = await this.unit(async (repo, audit) => {
      const r = await repo.revoke(keyId, by, at);
      if (r)
        await audit.append({
          operatorId: null,
          operator: by,
          role: null,
          action: 'verify_client.revoked',
          object: `verify-client:${keyId}`,
          outcome: 'ok',
        });
      return r;
    });
    if (!revoked) {
      throw new AppError(
        'VERIFY_CLIENT_NOT_FOUND',
        `No active client has the key id ${keyId.slice(0, 16)}. List the clients to find its id.`,
      );
    }
    return publicView(revoked);
  }

  async list(): Promise<VerifyClient[]> {
    return (await this.repo.all()).map(publicView);
  }

  /**
   * The active client whose key this is, or null (malformed, unknown, revoked, wrong secret alike).
   * `confirmedAtUse`: the caller's use checks the key id against the database in its own read (a
   * VerifyCaller), so a key checked before may be answered from memory (only where the service was
   * made with `confirmedAtUse`; elsewhere the option changes nothing).
   */
  async authenticate(apiKey: string, use: { confirmedAtUse?: boolean } = {}): Promise<VerifyClient | null> {
    const remembered = this.confirmedAtUse;
    if (remembered && use.confirmedAtUse) {
      const known = remembered.get(apiKey);
      if (known) return known;
      const client = await this.check(apiKey);
      // Bounded by the clients' own keys: unknown and revoked keys are never kept.
      if (client && remembered.size < 1000) remembered.set(apiKey, client);
      return client;
    }
    if (this.changedElsewhere) {
      if (this.changedElsewhere()) this.checked.clear();
      const known = this.checked.get(apiKey);
      if (known) return known;
    }
    const client = await this.check(apiKey);
    if (client && this.changedElsewhere) this.checked.set(apiKey, client);
    return client;
  }

  private async check(apiKey: string): Promise<VerifyClient | null> {
    const m = KEY_FORMAT.exec(apiKey);
    if (!m) return null;
    const record = await this.repo.byKeyId(m[1] ?? '');
    const given = Buffer.from(hashSecret(m[2] ?? ''), 'hex');
    // Compared in constant time even when the key id is unknown, so timing does not tell ids apart.
    const stored = Buffer.from(record?.keyHash ?? '0'.repeat(64), 'hex');
    const same = timingSafeEqual(given, stored);
    if (!record || !same || record.revokedAt !== null) return null;
    return publicView(record);
  }
}

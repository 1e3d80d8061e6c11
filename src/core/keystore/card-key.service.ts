import { formatMailerKey } from '../crypto/mailer-key-format';
import { kcvAes } from '../crypto/kcv';
import { AppError } from '../errors';
import { cardKeyKdfInput, assertCardN } from './card-key-derivation';
import type { CardSeries, CardSeriesStore } from './card-series.repository';
import type { KeyRef, KeystoreBackend } from './keystore-backend';
import type { Role } from '../../shared/roles';
import {
  CARD_KEY_ROTATION_ROLES,
  MAILER_ROLES,
  type AuditSink,
  type CardKeyActor,
  type CardKeyHandle,
  type CardKeyRotation,
  type CardKeyState,
  type MailerKey,
  type MailerKeyRequest,
} from './keystore.types';
import { aesKcv, type KeyRegistry } from './key-registry';

// Card keys. Never stored: each is derived from its master key on demand and kept in a small
// cache of backend references, never extractable (nothing wraps a card key out: its bytes are
// put in place only by withKeyBytes, for the two SM commands and the mailer).

const CARD_KEY = { persistent: false, extractable: false } as const;

export class CardKeyService {
  private readonly cache = new Map<string, KeyRef>();

  constructor(
    private readonly backend: KeystoreBackend,
    private readonly registry: KeyRegistry,
    private readonly series: CardSeriesStore,
    private readonly audit: AuditSink,
    private readonly cacheSize = 256,
  ) {}

  async cardKey(n: string, sn?: number): Promise<CardKeyHandle> {
    const s = await this.ensure(n);
    const want = sn ?? s.sn;
    let mkVersion: number;
    if (want === s.sn) mkVersion = s.mkVersion;
    else if (want === s.pendingSn && s.pendingMkVersion !== null) mkVersion = s.pendingMkVersion;
    else if (want < s.sn) throw retired(n, want);
    else
      throw new AppError(
        'CARD_KEY_NOT_ISSUED',
        `Series ${want} has not been issued for card ${n}. Use the card's current key.`,
      );
    return this.handle(n, want, mkVersion);
  }

  async state(n: string): Promise<CardKeyState> {
    const s = await this.ensure(n);
    return {
      n,
      sn: s.sn,
      mkVersion: s.mkVersion,
      pendingSn: s.pendingSn,
      retiredSns: s.retiredCount,
      kcv: this.handle(n, s.sn, s.mkVersion).kcv,
    };
  }

  async retire(n: string, opts: { reason: string; operator: string }): Promise<CardKeyState> {
    const s = await this.ensure(n);
    const sn = Math.max(s.sn, s.pendingSn ?? 0) + 1;
    const mk = this.activeMk();
    await this.series.put({
      n,
      mkVersion: mk,
      sn,
      pendingSn: null,
      pendingMkVersion: null,
      retiredCount: s.retiredCount + (sn - s.sn),
    });
    this.evict(n);
    this.audit('keystore.card_key.retired', {
      n,
      from_sn: s.sn,
      to_sn: sn,
      mk_version: mk,
      reason: opts.reason,
      operator: opts.operator,
    });
    return this.state(n);
  }

  async prepareRotation(n: string, actor: CardKeyActor): Promise<CardKeyRotation> {
    this.checkRole('rotation', n, actor, CARD_KEY_ROTATION_ROLES);
    const s = await this.ensure(n);
    // A retried push re-sends the same K' (same pending SN), so the card and server stay in step.
    const nextSn = s.pendingSn ?? s.sn + 1;
    const nextMk = s.pendingMkVersion ?? this.activeMk();
    if (s.pendingSn === null) await this.series.put({ ...s, pendingSn: nextSn, pendingMkVersion: nextMk });
    const next = this.handle(n, nextSn, nextMk);
    this.audit('keystore.card_key.rotation_prepared', {
      n,
      from_sn: s.sn,
      to_sn: nextSn,
      mk_version: nextMk,
      kcv: next.kcv,
      operator: actor.operator,
      role: actor.role,
    });
    return { next };
  }

  async confirmRotation(n: string, sn: number): Promise<CardKeyState> {
    const s = await this.ensure(n);
    if (s.pendingSn !== sn || s.pendingMkVersion === null) {
      throw new AppError(
        'CARD_KEY_ROTATION_NOT_PENDING',
        `No rotation to series ${sn} is pending for card ${n}. Prepare the rotation again.`,
      );
    }
    await this.series.put({
      n,
      mkVersion: s.pendingMkVersion,
      sn,
      pendingSn: null,
      pendingMkVersion: null,
      retiredCount: s.retiredCount + (sn - s.sn),
    });
    this.evict(n);
    this.audit('keystore.card_key.rotation_confirmed', { n, to_sn: sn, mk_version: s.pendingMkVersion });
    return this.state(n);
  }

  async formatForMailer(n: string, opts: MailerKeyRequest): Promise<MailerKey> {
    this.checkRole('mailer', n, opts, MAILER_ROLES);
    const s = await this.ensure(n);
    // A reprint prints K' of the pending series (prepared by prepareRotation), which the card takes
    // at its next presentation (docs/mailer.md); anything else prints the current K.
    const pending = opts.series === 'pending';
    if (pending && (s.pendingSn === null || s.pendingMkVersion === null)) {
      throw new AppError(
        'CARD_KEY_ROTATION_NOT_PENDING',
        `No new key series is pending for card ${n}. Prepare the rotation before printing its mailer.`,
      );
    }
    const sn = pending ? (s.pendingSn as number) : s.sn;
    const mkVersion = pending ? (s.pendingMkVersion as number) : s.mkVersion;
    const bytes = this.backend.deriveBytes(this.mkRef(mkVersion), cardKeyKdfInput(n, sn));
    try {
      const result = { n, sn, kcv: kcvAes(bytes), formatted: formatMailerKey(bytes) };
      this.audit('keystore.mailer.customer_key_formatted', {
        n,
        sn,
        series: pending ? 'pending' : 'current',
        kcv: result.kcv,
        operator: opts.operator,
        role: opts.role,
        reason: opts.reason,
      });
      return result;
    } finally {
      bytes.fill(0);
    }
  }

  /**
   * K's bytes for one plaintext put together inside the keystore (card-profile-keys.service.ts),
   * wiped after `use`. The same derivation as the mailer export; a retired handle is refused.
   */
  async withKeyBytes<T>(h: CardKeyHandle, use: (k: Buffer) => T): Promise<T> {
    await this.ref(h);
    const bytes = this.backend.deriveBytes(this.mkRef(h.mkVersion), cardKeyKdfInput(h.n, h.sn));
    try {
      return use(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  /** The check value of a card key as the keystore computes it (a handle's own `kcv` is the caller's copy). */
  async kcv(h: CardKeyHandle): Promise<string> {
    return aesKcv(this.backend, await this.ref(h));
  }

  /**
   * Backend reference for a card handle, re-checked against the series store (a retired SN is
   * refused). Anything that is not a card handle is refused too: callers may pass any object.
   */
  async ref(h: CardKeyHandle): Promise<KeyRef> {
    if (h === null || typeof h !== 'object' || h.kind !== 'card') throw wrongUse('a card key');
    const s = await this.ensure(h.n);
    const valid =
      (h.sn === s.sn && h.mkVersion === s.mkVersion) || (h.sn === s.pendingSn && h.mkVersion === s.pendingMkVersion);
    if (!valid) throw retired(h.n, h.sn);
    return this.derived(h.n, h.sn, h.mkVersion);
  }

  clear(): void {
    for (const ref of this.cache.values()) this.backend.destroy(ref);
    this.cache.clear();
  }

  private handle(n: string, sn: number, mkVersion: number): CardKeyHandle {
    return { kind: 'card', n, sn, mkVersion, kcv: aesKcv(this.backend, this.derived(n, sn, mkVersion)) };
  }

  private derived(n: string, sn: number, mkVersion: number): KeyRef {
    const id = `${mkVersion}/${n}/${sn}`;
    const hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id);
      this.cache.set(id, hit); // most recently used last
      return hit;
    }
    const ref = this.backend.deriveAes(this.mkRef(mkVersion), cardKeyKdfInput(n, sn), CARD_KEY);
    this.cache.set(id, ref);
    if (this.cache.size > this.cacheSize) {
      const [oldest, oldRef] = this.cache.entries().next().value as [string, KeyRef];
      this.cache.delete(oldest);
      this.backend.destroy(oldRef);
    }
    return ref;
  }

  private evict(n: string): void {
    for (const [id, ref] of this.cache) {
      if (id.split('/')[1] === n) {
        this.cache.delete(id);
        this.backend.destroy(ref);
      }
    }
  }

  /** Role check for an export that names a person; a refusal is audited and changes nothing. */
  private checkRole(what: 'mailer' | 'rotation', n: string, actor: CardKeyActor, allowed: readonly Role[]): void {
    const named = typeof actor?.operator === 'string' && actor.operator.trim() !== '';
    if (named && allowed.includes(actor.role)) return;
    this.audit('keystore.card_key.export_refused', {
      n,
      what,
      operator: named ? actor.operator : '',
      role: String(actor?.role ?? ''),
    });
    throw new AppError(
      'FORBIDDEN',
      what === 'mailer'
        ? 'Only a manager prints a card key on a mailer. Ask a manager to print it.'
        : 'Only a card workflow run by a manager, support or a security officer re-keys a card. Ask one of them.',
    );
  }

  private async ensure(n: string): Promise<CardSeries> {
    assertCardN(n);
    const found = await this.series.get(n);
    if (found) return found;
    const s: CardSeries = {
      n,
      mkVersion: this.activeMk(),
      sn: 1,
      pendingSn: null,
      pendingMkVersion: null,
      retiredCount: 0,
    };
    await this.series.put(s);
    return s;
  }

  private activeMk(): number {
    const mk = this.registry.active('master');
    if (!mk)
      throw new AppError(
        'KEYSTORE_NO_MASTER_KEY',
        'There is no master key yet. A security officer must hold the key ceremony first.',
      );
    return mk.version;
  }

  private mkRef(version: number): KeyRef {
    const mk = this.registry.byVersion('master', version);
    if (!mk || mk.state === 'retired') {
      throw new AppError(
        'KEYSTORE_MASTER_KEY_MISSING',
        `Master key version ${version} is not in this keystore. Restore the keystore that holds it.`,
      );
    }
    return mk.id;
  }
}

/** A handle used for something its kind was not made for. */
export function wrongUse(needed: string): AppError {
  return new AppError(
    'KEY_WRONG_USE',
    `That key handle cannot be used here; this step needs ${needed}. Start the card operation again.`,
  );
}

function retired(n: string, sn: number): AppError {
  return new AppError(
    'CARD_KEY_RETIRED',
    `Card ${n}'s key series ${sn} is retired and can no longer be used. Use the card's current key.`,
  );
}

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cardRow } from '../../support/cards';
import { AuditService } from '../../../src/core/audit/audit.service';
import { SqliteCardRepository, type CardRecord } from '../../../src/core/cards/card.repository';
import { openDatabase, type Database } from '../../../src/core/db/database';
import { KeystoreCardKeyPort } from '../../../src/core/keystore/keystore-card-key-port';
import type { KeystoreService } from '../../../src/core/keystore/keystore.service';
import { SqliteListRepository, type ListRecord } from '../../../src/core/lists/list.repository';
import { ListService, type ListActor } from '../../../src/core/lists/list.service';
import { DEFAULT_POLICIES, StaticPolicySource, type Policies } from '../../../src/core/policy/policy.service';
import { VerificationService } from '../../../src/core/verification/verification.service';
import { SqliteVerificationEventsRepository } from '../../../src/core/verification/verification-events.repository';
import {
  SqliteFailureCounterRepository,
  type FailureCounterRepository,
} from '../../../src/core/verification/failure.repository';
import { codesFromPublicKeyEnvelope, rsaPublicKeyBytes } from '../../support/list-envelopes';
import { sqliteRepositories } from '../../../src/core/db/repositories';
import {
  BACKENDS,
  createKeystoreFixture,
  openIssuerKeystore,
  type KeystoreFixture,
} from '../keystore/keystore.fixture';

// Issue 9 items 7 and 8 over a real keystore (both backends) and SQLite: verify(N, code, index?)
// with every refusal reason, the 64-at-once attack on one code, replays, nothing changed on a
// refusal, and each refill trigger. The codes come only from opening the envelope with the card's
// own RSA key (public-key mode), as a card would.

const COMPONENTS = ['11'.repeat(32), '2e'.repeat(32)].map((h) => Buffer.from(h, 'hex'));
const MANAGER: ListActor = { operatorId: 7, operator: 'mia', role: 'manager' };
const cardRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe.each(BACKENDS)('verify(N, code, index?) and refill (%s keystore)', (backend) => {
  let fx: KeystoreFixture;
  let ks: KeystoreService;
  let dir: string;
  let db: Database;
  let cards: SqliteCardRepository;
  let lists: SqliteListRepository;
  let audit: AuditService;
  let service: ListService;
  let verifier: VerificationService;
  /** The same decision, recording refusals and suspicions (the desk's and the service's composition). */
  let recorder: VerificationService;
  let events: SqliteVerificationEventsRepository;
  let now = new Date('2026-12-02T10:00:00.000Z');
  let policy: Policies = { ...DEFAULT_POLICIES, listLength: 30, refillThreshold: 5, codeDigits: 8 };

  beforeAll(async () => {
    fx = createKeystoreFixture(backend);
    ks = await openIssuerKeystore(fx, COMPONENTS, 'Lists');
    dir = mkdtempSync(join(tmpdir(), 'otac-lists-'));
    db = openDatabase(join(dir, 'workstation.db'));
    cards = new SqliteCardRepository(db);
    lists = new SqliteListRepository(db);
    audit = new AuditService(db, () => now);
    const policies = { current: () => policy } satisfies Pick<StaticPolicySource, 'current'>;
    service = new ListService(lists, cards, policies, sqliteRepositories(db, audit).atomically, () => now);
    verifier = new VerificationService(cards, lists, service, { current: () => ks }, audit, policies, {
      now: () => now,
    });
    events = new SqliteVerificationEventsRepository(db);
    recorder = new VerificationService(cards, lists, service, { current: () => ks }, audit, policies, {
      now: () => now,
      events,
    });
  });
  afterAll(async () => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
    await ks.close();
    fx.dispose();
  });
  beforeEach(() => {
    now = new Date('2026-12-02T10:00:00.000Z');
    policy = { ...DEFAULT_POLICIES, listLength: 30, refillThreshold: 5, codeDigits: 8 };
  });

  async function newCard(): Promise<CardRecord> {
    return (await cardRow(db, { sealMode: 'public-key', at: now.toISOString() })).card;
  }

  /** Queues, seals (inside the keystore), "pushes" and activates the card's next list; its codes from the envelope. */
  async function pushList(card: CardRecord): Promise<{ list: ListRecord; codes: string[] }> {
    const port = new KeystoreCardKeyPort(ks);
    const { list } = await service.queueNext(card.id, 'first', MANAGER);
    const prepared = await service.sealForPush(list.id, port, await port.issuerKey(), {
      mode: 'public-key',
      cardPublicKey: rsaPublicKeyBytes(cardRsa.publicKey),
    });
    const codes = codesFromPublicKeyEnvelope(prepared.envelope, cardRsa.privateKey);
    if (!codes) throw new Error('the envelope did not open with the card key');
    await service.markStaged(list.id);
    await service.markCommitted(list.id);
    await service.markReceiptVerified(list.id);
    return { list: await service.activate(list.id, MANAGER), codes };
  }

  const snapshot = () => ({
    lists: db.prepare('SELECT * FROM code_lists ORDER BY id').all(),
    uses: db.prepare('SELECT * FROM code_uses ORDER BY list_ref, code_index').all(),
  });

  it('accepts the next code once; a replay is refused as already used and changes nothing', async () => {
    const card = await newCard();
    const { codes, list } = await pushList(card);
    expect(codes).toHaveLength(30);
    expect(codes.every((c) => /^\d{8}$/.test(c))).toBe(true);
    expect(await verifier.verify(card.n, codes[0] ?? '')).toEqual({
      accepted: true,
      index: 1,
      remaining: 29,
      refillQueued: false,
    });
    const before = snapshot();
    expect(await verifier.verify(card.n, codes[0] ?? '')).toEqual({ accepted: false, reason: 'already_used' });
    expect(await verifier.verify(card.n, codes[0] ?? '', 1)).toEqual({ accepted: false, reason: 'already_used' });
    expect(snapshot()).toEqual(before);
    expect(await verifier.verify(card.n, codes[1] ?? '', 2)).toMatchObject({ accepted: true, index: 2 });
    const uses = db.prepare('SELECT * FROM code_uses WHERE list_ref = ?').all(list.id);
    expect(uses).toEqual([
      { list_ref: list.id, code_index: 1, used_at: now.toISOString() },
      { list_ref: list.id, code_index: 2, used_at: now.toISOString() },
    ]);
  });

  it('ATTACK: 64 concurrent verifications of one code accept exactly once', async () => {
    const card = await newCard();
    const { codes, list } = await pushList(card);
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => verifier.verify(card.n, codes[2] ?? '', i % 2 ? 3 : undefined)),
    );
    expect(results.filter((r) => r.accepted)).toHaveLength(1);
    expect(results.filter((r) => !r.accepted).every((r) => !r.accepted && r.reason === 'already_used')).toBe(true);
    const after = await lists.byId(list.id);
    expect(after).toMatchObject({ usedCount: 1, nextIndex: 4 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM code_uses WHERE list_ref = ?').get(list.id)).toEqual({ n: 1 });
  });

  it('ATTACK: a card locked out elsewhere between the decision and its mark: the right code is refused, nothing used', async () => {
    // Another desk or verification instance sharing this database counts the card's fifth wrong code
    // while this decision is between its read (not locked) and its use mark: the mark itself must
    // see the lock, or a guess in flight is accepted past the limit (k instances, k − 1 guesses).
    const counter = new SqliteFailureCounterRepository(db);
    let lockAfterRead: number | null = null;
    const failures: FailureCounterRepository = {
      get: async (cardRef) => {
        const state = await counter.get(cardRef);
        if (lockAfterRead === cardRef) {
          lockAfterRead = null;
          for (let i = 0; i < 5; i++) await counter.recordFailure(cardRef, 5, now.toISOString());
        }
        return state;
      },
      recordFailure: (...a) => counter.recordFailure(...a),
      recordSuccess: (...a) => counter.recordSuccess(...a),
      clear: (...a) => counter.clear(...a),
    };
    const policies = { current: () => policy };
    const guarded = new VerificationService(cards, lists, service, { current: () => ks }, audit, policies, {
      now: () => now,
      lockout: { failures, limit: 5 },
    });
    const card = await newCard();
    const { codes, list } = await pushList(card);
    lockAfterRead = card.id;
    const before = snapshot();
    expect(await guarded.verify(card.n, codes[0] ?? '', 1)).toEqual({ accepted: false, reason: 'too_many_failures' });
    expect(lockAfterRead).toBeNull(); // the lock did land between the read and the mark
    expect(snapshot()).toEqual(before);
    expect(await lists.byId(list.id)).toMatchObject({ nextIndex: 1, usedCount: 0 });
    // Cleared at the desk, the same code is accepted.
    await counter.clear(card.id);
    expect(await guarded.verify(card.n, codes[0] ?? '', 1)).toMatchObject({ accepted: true, index: 1 });
  });

  it('ATTACK: 64 concurrent verifications of different forward codes never accept one position twice', async () => {
    const card = await newCard();
    const { codes } = await pushList(card);
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => verifier.verify(card.n, codes[i % 5] ?? '')),
    );
    const accepted = results.flatMap((r) => (r.accepted ? [r.index] : []));
    expect(new Set(accepted).size).toBe(accepted.length);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
  });

  it('the forward window is the policy, read at each use: narrowed, a code once accepted is refused; widened, accepted', async () => {
    const card = await newCard();
    const { codes } = await pushList(card);
    // Window 3: positions 1…3 serve; the fourth is refused, with nothing changed.
    policy = { ...policy, verifyLookAhead: 3 };
    const before = snapshot();
    expect(await verifier.verify(card.n, codes[3] ?? '')).toEqual({ accepted: false, reason: 'wrong_code' });
    expect(await verifier.verify(card.n, codes[3] ?? '', 4)).toEqual({
      accepted: false,
      reason: 'not_expected_position',
    });
    expect(snapshot()).toEqual(before);
    expect(await verifier.verify(card.n, codes[2] ?? '')).toMatchObject({ accepted: true, index: 3 });
    // Window 1: only the next expected code.
    policy = { ...policy, verifyLookAhead: 1 };
    expect(await verifier.verify(card.n, codes[4] ?? '', 5)).toEqual({
      accepted: false,
      reason: 'not_expected_position',
    });
    expect(await verifier.verify(card.n, codes[3] ?? '')).toMatchObject({ accepted: true, index: 4 });
    // Widened to 15: a jump of 14 positions (beyond the default 10) is accepted.
    policy = { ...policy, verifyLookAhead: 15 };
    expect(await verifier.verify(card.n, codes[18] ?? '')).toMatchObject({ accepted: true, index: 19 });
  });

  it('refuses with a precise reason and changes nothing: every reason', async () => {
    const card = await newCard();
    const { codes, list } = await pushList(card);
    const check = async (n: string, code: string, index: number | undefined, reason: string) => {
      const before = snapshot();
      expect(await verifier.verify(n, code, index)).toEqual({ accepted: false, reason });
      expect(snapshot()).toEqual(before);
    };
    await check('N-NOBODY', codes[0] ?? '', undefined, 'unknown_n');
    await check(card.n, '00000000', undefined, codes.includes('00000000') ? 'not_expected_position' : 'wrong_code');
    await check(card.n, codes[0] ?? '', 2, 'wrong_code'); // the right code at the wrong index
    await check(card.n, `${codes[0] ?? ''}0`, 1, 'wrong_code'); // a digit too many
    // Forward only: beyond the look-ahead window, and a skipped code behind the next expected one.
    const lookAhead = DEFAULT_POLICIES.verifyLookAhead;
    await check(card.n, codes[lookAhead] ?? '', lookAhead + 1, 'not_expected_position');
    expect(await verifier.verify(card.n, codes[3] ?? '')).toMatchObject({ accepted: true, index: 4 });
    await check(card.n, codes[1] ?? '', undefined, 'not_expected_position');
    await check(card.n, codes[1] ?? '', 2, 'not_expected_position');
    await check(card.n, codes[3] ?? '', undefined, 'already_used');
    // Expired table: the card has no clock, the issuer refuses.
    now = new Date(Date.parse(list.expiresAt) + 1000);
    await check(card.n, codes[4] ?? '', undefined, 'table_expired');
    now = new Date('2026-12-02T10:00:00.000Z');
    // Card blocked, then cleared; terminated.
    await cards.transition(card.id, ['active'], 'blocked', now.toISOString());
    await check(card.n, codes[4] ?? '', undefined, 'card_blocked');
    await cards.transition(card.id, ['blocked'], 'active', now.toISOString());
    // Table disabled by the issuer.
    await service.disable(list.id, MANAGER, 'card reported lost');
    await check(card.n, codes[4] ?? '', undefined, 'table_disabled');
    await cards.transition(card.id, ['active'], 'terminated', now.toISOString());
    await check(card.n, codes[4] ?? '', undefined, 'card_terminated');
    // A card without a list yet.
    const bare = await newCard();
    await check(bare.n, codes[4] ?? '', undefined, 'no_active_list');
    // The audit says why and never holds a code.
    const details = db.prepare(`SELECT details FROM audit_log WHERE action LIKE 'verification.%'`).all();
    const text = JSON.stringify(details);
    for (const c of codes) expect(text).not.toContain(c);
    expect(text).toContain('table_disabled');
  });

  it('records every refusal with its source; a replay, a disabled table, a blocked card raise a suspicion (audited)', async () => {
    const card = await newCard();
    const { codes, list } = await pushList(card);
    const rejections = () =>
      db
        .prepare('SELECT card_ref, list_ref, reason, source FROM verify_rejections WHERE card_ref IS ? ORDER BY id')
        .all(card.id);
    const uses = () => db.prepare('SELECT * FROM code_uses ORDER BY list_ref, code_index').all();
    expect(await recorder.verify(card.n, codes[0] ?? '', undefined, 'client:abcdef0123456789')).toMatchObject({
      accepted: true,
    });
    expect(rejections()).toEqual([]); // an acceptance is no refusal
    const marked = uses();
    // The replay: refused, recorded, a code_replayed suspicion naming the index, an audit entry.
    expect(await recorder.verify(card.n, codes[0] ?? '', undefined, 'client:abcdef0123456789')).toEqual({
      accepted: false,
      reason: 'already_used',
    });
    expect(await recorder.verify(card.n, '00000000', 5)).toMatchObject({ accepted: false }); // a typo: no suspicion
    await cards.transition(card.id, ['active'], 'blocked', now.toISOString());
    expect(await recorder.verify(card.n, codes[1] ?? '')).toEqual({ accepted: false, reason: 'card_blocked' });
    await cards.transition(card.id, ['blocked'], 'active', now.toISOString());
    await service.disable(list.id, MANAGER, 'suspected clone');
    expect(await recorder.verify(card.n, codes[1] ?? '')).toEqual({ accepted: false, reason: 'table_disabled' });
    expect(await recorder.verify('N-NOBODY', codes[1] ?? '')).toEqual({ accepted: false, reason: 'unknown_n' });
    expect(uses()).toEqual(marked); // no refusal marked anything
    expect(rejections()).toEqual([
      { card_ref: card.id, list_ref: list.id, reason: 'already_used', source: 'client:abcdef0123456789' },
      { card_ref: card.id, list_ref: list.id, reason: 'wrong_code', source: 'desk' },
      { card_ref: card.id, list_ref: null, reason: 'card_blocked', source: 'desk' },
      { card_ref: card.id, list_ref: list.id, reason: 'table_disabled', source: 'desk' },
    ]);
    expect(db.prepare('SELECT reason FROM verify_rejections WHERE card_ref IS NULL').all()).toContainEqual({
      reason: 'unknown_n',
    });
    const raised = (await events.suspicionsForCard(card.id)).reverse();
    expect(raised.map((e) => [e.kind, e.codeIndex, e.listRef, e.source, e.resolution])).toEqual([
      ['code_replayed', 1, list.id, 'client:abcdef0123456789', null],
      ['blocked_card_used', null, null, 'desk', null],
      ['disabled_table_used', null, list.id, 'desk', null],
    ]);
    const audited = db
      .prepare(`SELECT details FROM audit_log WHERE action = 'verification.suspicion' AND object = ?`)
      .all(`card:${card.n}`) as { details: string }[];
    expect(audited.map((a) => (JSON.parse(a.details) as { kind: string }).kind)).toEqual([
      'code_replayed',
      'blocked_card_used',
      'disabled_table_used',
    ]);
    expect(await events.refusalCountsForCard(card.id)).toEqual({
      already_used: 1,
      wrong_code: 1,
      card_blocked: 1,
      table_disabled: 1,
    });
    // Resolving is a compare-and-set: the second call finds nothing open.
    const first = raised[0];
    if (!first) throw new Error('no event');
    expect(await events.resolve(first.id, 'dismissed', 'mia', now.toISOString())).toMatchObject({
      resolution: 'dismissed',
    });
    expect(await events.resolve(first.id, 'card_reported', 'mia', now.toISOString())).toBeNull();
    expect((await events.resolveOpenForCard(card.id, 'table_disabled', 'mia', now.toISOString())).length).toBe(2);
    expect(await events.openSuspicionsForCard(card.id)).toEqual([]);
  });

  it('refill: the server count at the threshold queues the next list once; manual and card-flag requests join it', async () => {
    const card = await newCard();
    policy = { ...policy, listLength: 20, refillThreshold: 5 };
    const { codes, list } = await pushList(card);
    for (let i = 0; i < 14; i++)
      expect(await verifier.verify(card.n, codes[i] ?? '')).toMatchObject({ accepted: true, refillQueued: false });
    expect(await lists.onItsWay(card.id)).toBeNull();
    // The 15th use leaves 5 = the threshold: the next list is queued by the server itself.
    expect(await verifier.verify(card.n, codes[14] ?? '')).toEqual({
      accepted: true,
      index: 15,
      remaining: 5,
      refillQueued: true,
    });
    const queued = await lists.onItsWay(card.id);
    expect(queued).toMatchObject({ state: 'prepared', seq: list.seq + 1, trigger: 'threshold', sealedFor: null });
    expect((await lists.byId(list.id))?.refillDue).toBe(true);
    // More uses, a manual request and the card's flag: still one list on its way.
    expect(await verifier.verify(card.n, codes[15] ?? '')).toMatchObject({ accepted: true, refillQueued: false });
    expect(await service.requestRefill(card.id, MANAGER)).toMatchObject({ created: false, list: { id: queued?.id } });
    expect(await service.cardReportedLowCodes(card.id, MANAGER)).toMatchObject({ created: false });
    expect((await lists.forCard(card.id)).filter((l) => l.state === 'prepared')).toHaveLength(1);
    // 64 concurrent refill requests on another card: one list queued.
    const other = await newCard();
    await pushList(other);
    const burst = await Promise.all(Array.from({ length: 64 }, () => service.requestRefill(other.id, MANAGER)));
    expect(burst.filter((b) => b.created)).toHaveLength(1);
    expect(new Set(burst.map((b) => b.list.id)).size).toBe(1);
  });

  it('refill triggers: a manual request and the card flag each queue a list on their own', async () => {
    const manual = await newCard();
    await pushList(manual);
    expect(await service.requestRefill(manual.id, MANAGER)).toMatchObject({
      created: true,
      list: { trigger: 'manual' },
    });
    const flagged = await newCard();
    const { list } = await pushList(flagged);
    expect(await service.cardReportedLowCodes(flagged.id, MANAGER)).toMatchObject({
      created: true,
      list: { trigger: 'card_flag' },
    });
    expect((await lists.byId(list.id))?.refillDue).toBe(true);
    const actions = db.prepare(`SELECT action, details FROM audit_log WHERE action = 'lists.queued'`).all();
    expect(JSON.stringify(actions)).toContain('card_flag');
  });

  it('changeover: the old list serves until the new one is active on the card, then only the new one', async () => {
    const card = await newCard();
    const first = await pushList(card);
    expect(await verifier.verify(card.n, first.codes[0] ?? '')).toMatchObject({ accepted: true });
    // The next list is queued, sealed, staged, committed and its receipt verified: the old one still serves.
    const port = new KeystoreCardKeyPort(ks);
    const { list: next } = await service.requestRefill(card.id, MANAGER);
    const prepared = await service.sealForPush(next.id, port, await port.issuerKey(), {
      mode: 'public-key',
      cardPublicKey: rsaPublicKeyBytes(cardRsa.publicKey),
    });
    const nextCodes = codesFromPublicKeyEnvelope(prepared.envelope, cardRsa.privateKey) ?? [];
    await service.markStaged(next.id);
    await service.markCommitted(next.id);
    expect(await verifier.verify(card.n, first.codes[1] ?? '')).toMatchObject({ accepted: true, index: 2 });
    await service.markReceiptVerified(next.id);
    expect(await verifier.verify(card.n, nextCodes[0] ?? '')).toEqual({ accepted: false, reason: 'wrong_code' });
    await service.activate(next.id, MANAGER);
    expect((await lists.byId(first.list.id))?.state).toBe('superseded');
    expect(await verifier.verify(card.n, first.codes[2] ?? '')).toEqual({ accepted: false, reason: 'wrong_code' });
    expect(await verifier.verify(card.n, nextCodes[0] ?? '')).toMatchObject({ accepted: true, index: 1 });
    // A retried seal of a list already sealed for another key is refused: its codes would change.
    const { list: third } = await service.requestRefill(card.id, MANAGER);
    const issuer = await port.issuerKey();
    const sealThird = () =>
      service.sealForPush(third.id, port, issuer, {
        mode: 'public-key',
        cardPublicKey: rsaPublicKeyBytes(cardRsa.publicKey),
      });
    const once = await sealThird();
    // A resumed push (even after COMMIT) re-seals the same list: same body, same codes.
    await service.markCommitted(third.id);
    const again = await sealThird();
    expect(again.bodyHash).toEqual(once.bodyHash);
    expect(codesFromPublicKeyEnvelope(again.envelope, cardRsa.privateKey)).toEqual(
      codesFromPublicKeyEnvelope(once.envelope, cardRsa.privateKey),
    );
    const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await expect(
      service.sealForPush(third.id, port, await port.issuerKey(), {
        mode: 'public-key',
        cardPublicKey: rsaPublicKeyBytes(otherRsa.publicKey),
      }),
    ).rejects.toMatchObject({ code: 'LIST_SEALED_OTHERWISE' });
  });

  it('the database holds no code: not in the file, its WAL, nor the audit trail', async () => {
    policy = { ...policy, codeDigits: 10, listLength: 40 };
    const card = await newCard();
    const { codes } = await pushList(card);
    for (const c of codes.slice(0, 3)) await verifier.verify(card.n, c);
    await verifier.verify(card.n, codes[0] ?? '');
    const files = ['workstation.db', 'workstation.db-wal'].map((f) => {
      try {
        return readFileSync(join(dir, f)).toString('latin1');
      } catch {
        return '';
      }
    });
    for (const c of codes) for (const f of files) expect(f.includes(c), c).toBe(false);
  });
});

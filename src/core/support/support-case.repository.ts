import type { Database } from '../db/database';
import { StatementCache } from '../db/statement-cache';

// Support cases (migration 0017; docs/support.md). Async, one transaction per changing method, no
// await inside one, portable SQL (docs/storage.md): every step of a case is a compare-and-set on its
// state, so two desks (or fifty concurrent passkey entries) cannot both move it.

export const REPORT_REASONS = ['lost', 'stolen', 'damaged', 'suspected_clone'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];
export const CASE_STATES = ['reported', 'passkey_sent', 'locked', 'verified', 'reissued'] as const;
export type CaseState = (typeof CASE_STATES)[number];
export type PasskeyChannel = 'email' | 'sms';
export type VerifiedVia = 'desk' | 'email_reply';

export interface SupportCaseRecord {
  readonly id: number;
  readonly cardRef: number;
  readonly customerRef: number;
  readonly reason: ReportReason;
  readonly state: CaseState;
  readonly cardStateBefore: string;
  readonly suspicionRef: number | null;
  readonly note: string | null;
  readonly openedAt: string;
  readonly openedBy: string;
  readonly stateChangedAt: string;
  readonly version: number;
  /** How many passkeys were made for the case; part of what the tag is computed over. */
  readonly passkeySerial: number;
  /**
   * Passkeys sent since the case was opened or a manager last checked the customer in person: at the
   * policy's passkeyMaxSends no more are sent (migration 0024).
   */
  readonly passkeySends: number;
  /** The keyed tag of the passkey awaiting (32 hex digits), never the passkey. */
  readonly passkeyTag: string | null;
  readonly passkeyChannel: PasskeyChannel | null;
  readonly passkeySentAt: string | null;
  readonly passkeyExpiresAt: string | null;
  readonly failures: number;
  readonly verifiedAt: string | null;
  readonly verifiedBy: string | null;
  readonly verifiedVia: VerifiedVia | null;
  readonly identityDocumentType: string | null;
  readonly identityDocumentRef: string | null;
  readonly identityCheckedBy: string | null;
  readonly identityApprovedBy: string | null;
  readonly identityCheckedAt: string | null;
  readonly newCardRef: number | null;
  readonly reissuedAt: string | null;
  /** The customer's registered contacts when the card was reported: the only ones a passkey goes to. */
  readonly contactEmail: string | null;
  readonly contactMobile: string | null;
}

export interface NewReport {
  readonly cardRef: number;
  readonly customerRef: number;
  readonly reason: ReportReason;
  readonly suspicionRef: number | null;
  readonly note: string | null;
}

/** A list the report withdrew, as it was just before. */
export interface WithdrawnList {
  readonly id: number;
  readonly seq: number;
  readonly listId: string;
  readonly was: string;
}

export type ReportOutcome =
  | { readonly kind: 'opened'; readonly supportCase: SupportCaseRecord; readonly withdrawn: readonly WithdrawnList[] }
  | { readonly kind: 'existing'; readonly supportCase: SupportCaseRecord }
  | { readonly kind: 'card_not_blockable'; readonly cardState: string | null };

export interface IdentityProcedure {
  readonly documentType: string;
  readonly documentRef: string;
  readonly checkedBy: string;
  readonly approvedBy: string;
  /** The policy's passkeyMaxSends: a case that sent that many, none still valid, awaits the procedure too. */
  readonly maxSends: number;
}

export interface SupportCaseRepository {
  byId(id: number): Promise<SupportCaseRecord | null>;
  /** Open cases (not reissued) first by age, then the most recently reissued, `limit` in all. */
  list(limit: number): Promise<SupportCaseRecord[]>;
  /** The card's open case (not reissued), if any. */
  openForCard(cardRef: number): Promise<SupportCaseRecord | null>;
  /** Open cases whose customer's registered e-mail (case-folded) is `email` and whose passkey awaits. */
  awaitingForEmail(email: string): Promise<SupportCaseRecord[]>;
  /**
   * The report, in one transaction: the card active or awaiting activation → blocked (compare-and-set),
   * every list of the card that is active or on its way → disabled, and the case. A card with an open
   * case gets that case back and nothing changes.
   */
  report(r: NewReport, by: { operator: string; at: string }): Promise<ReportOutcome>;
  /**
   * One more passkey to send, before it is sent: the case awaits a passkey and has sent fewer than
   * `maxSends` since it was opened or last passed the identity procedure. Null: no slot, nothing changed.
   */
  reservePasskeySend(id: number, maxSends: number): Promise<SupportCaseRecord | null>;
  /** The slot of a passkey the transport refused (it did not go out), given back. */
  releasePasskeySend(id: number): Promise<void>;
  /**
   * The passkey `serial` made and sent (its slot reserved), recorded only after `serial - 1`: it replaces
   * the one awaiting (reported or passkey_sent → passkey_sent). Failures are kept.
   */
  recordPasskey(id: number, p: PasskeyIssue): Promise<SupportCaseRecord | null>;
  /**
   * One wrong passkey: counts only while the case awaits one; reaching `limit` locks the case and drops
   * the tag (the lock, a state, is what stops concurrent entries; a case left above a limit the policy
   * lowered meanwhile locks at its next entry). Null when this call did not count (locked, verified,
   * or another desk).
   */
  recordFailure(id: number, limit: number, at: string): Promise<SupportCaseRecord | null>;
  /** passkey_sent → verified, only for the passkey `serial`/`tag` read, unexpired, under the limit. */
  markVerified(
    id: number,
    p: { serial: number; tag: string; limit: number; via: VerifiedVia; by: string; at: string },
  ): Promise<SupportCaseRecord | null>;
  /**
   * locked (or its passkeys used up, none still valid) → reported: the manager's identity procedure,
   * recorded; failures and passkeys sent back to 0, no passkey.
   */
  recordIdentityProcedure(id: number, p: IdentityProcedure, at: string): Promise<SupportCaseRecord | null>;
  /** verified → reissued with the new card. */
  markReissued(id: number, newCardRef: number, at: string): Promise<SupportCaseRecord | null>;
}

interface CaseRow {
  id: number;
  card_ref: number;
  customer_ref: number;
  reason: ReportReason;
  state: CaseState;
  card_state_before: string;
  suspicion_ref: number | null;
  note: string | null;
  opened_at: string;
  opened_by: string;
  state_changed_at: string;
  version: number;
  passkey_serial: number;
  passkey_sends: number;
  passkey_tag: string | null;
  passkey_channel: PasskeyChannel | null;
  passkey_sent_at: string | null;
  passkey_expires_at: string | null;
  failures: number;
  verified_at: string | null;
  verified_by: string | null;
  verified_via: VerifiedVia | null;
  identity_document_type: string | null;
  identity_document_ref: string | null;
  identity_checked_by: string | null;
  identity_approved_by: string | null;
  identity_checked_at: string | null;
  new_card_ref: number | null;
  reissued_at: string | null;
  contact_email: string | null;
  contact_mobile: string | null;
}

const fromRow = (r: CaseRow): SupportCaseRecord => ({
  id: r.id,
  cardRef: r.card_ref,
  customerRef: r.customer_ref,
  reason: r.reason,
  state: r.state,
  cardStateBefore: r.card_state_before,
  suspicionRef: r.suspicion_ref,
  note: r.note,
  openedAt: r.opened_at,
  openedBy: r.opened_by,
  stateChangedAt: r.state_changed_at,
  version: r.version,
  passkeySerial: r.passkey_serial,
  passkeySends: r.passkey_sends,
  passkeyTag: r.passkey_tag,
  passkeyChannel: r.passkey_channel,
  passkeySentAt: r.passkey_sent_at,
  passkeyExpiresAt: r.passkey_expires_at,
  failures: r.failures,
  verifiedAt: r.verified_at,
  verifiedBy: r.verified_by,
  verifiedVia: r.verified_via,
  identityDocumentType: r.identity_document_type,
  identityDocumentRef: r.identity_document_ref,
  identityCheckedBy: r.identity_checked_by,
  identityApprovedBy: r.identity_approved_by,
  identityCheckedAt: r.identity_checked_at,
  newCardRef: r.new_card_ref,
  reissuedAt: r.reissued_at,
  contactEmail: r.contact_email,
  contactMobile: r.contact_mobile,
});

/** The card states a report blocks from, and the list states it withdraws (ListService.disable's). */
const BLOCKABLE = ['active', 'awaiting_activation'] as const;
const WITHDRAWABLE = ['prepared', 'staged', 'committed', 'receipt_verified', 'active'] as const;
/**
 * A case waiting for a passkey that may send no more and has none still valid (parameters: the
 * policy's passkeyMaxSends, now): only the manager's identity procedure moves it on, as a lockout.
 */
const SENDS_USED_UP = `state IN ('reported', 'passkey_sent') AND passkey_sends >= ?
           AND (passkey_expires_at IS NULL OR passkey_expires_at <= ?)`;

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

export type PasskeyIssue = { serial: number; tag: string; channel: PasskeyChannel; sentAt: string; expiresAt: string };
type PasskeyAnswer = { serial: number; tag: string; limit: number; via: VerifiedVia; by: string; at: string };

/**
 * The statements both engines run (support-case.repository.pg.ts runs them on PostgreSQL), with their
 * parameters in order: one text per statement, so the two implementations cannot drift apart.
 */
export const supportCaseSql = {
  byId: 'SELECT * FROM support_cases WHERE id = ?',
  openForCard: `SELECT * FROM support_cases WHERE card_ref = ? AND state <> 'reissued'`,
  list: `SELECT * FROM support_cases
          ORDER BY CASE WHEN state = 'reissued' THEN 1 ELSE 0 END,
                   CASE WHEN state = 'reissued' THEN reissued_at END DESC, opened_at, id
          LIMIT ?`,
  awaitingForEmail: `SELECT * FROM support_cases
          WHERE state = 'passkey_sent' AND lower(contact_email) = ? ORDER BY id`,
  cardState: 'SELECT state FROM cards WHERE id = ?',
  blockCard: `UPDATE cards SET state = 'blocked', state_changed_at = ?, version = version + 1
            WHERE id = ? AND state IN (${marks(BLOCKABLE.length)}) RETURNING id`,
  blockCardParams: (cardRef: number, at: string): unknown[] => [at, cardRef, ...BLOCKABLE],
  withdrawable: `SELECT id, seq, list_id, state FROM code_lists WHERE card_ref = ? AND state IN (${marks(WITHDRAWABLE.length)}) ORDER BY seq`,
  withdrawableParams: (cardRef: number): unknown[] => [cardRef, ...WITHDRAWABLE],
  disableList: `UPDATE code_lists SET state = 'disabled', state_changed_at = ?, version = version + 1 WHERE id = ? AND state = ?`,
  open: `INSERT INTO support_cases (card_ref, customer_ref, reason, state, card_state_before, suspicion_ref, note,
           opened_at, opened_by, state_changed_at, contact_email, contact_mobile)
         SELECT ?, c.id, ?, 'reported', ?, ?, ?, ?, ?, ?, c.email, c.mobile FROM customers c WHERE c.id = ?
         RETURNING *`,
  openParams: (r: NewReport, cardState: string, by: { operator: string; at: string }): unknown[] => [
    r.cardRef,
    r.reason,
    cardState,
    r.suspicionRef,
    r.note,
    by.at,
    by.operator,
    by.at,
    r.customerRef,
  ],
  recordPasskey: `UPDATE support_cases SET state = 'passkey_sent', passkey_serial = ?, passkey_tag = ?, passkey_channel = ?,
         passkey_sent_at = ?, passkey_expires_at = ?, state_changed_at = ?, version = version + 1
       WHERE id = ? AND state IN ('reported', 'passkey_sent') AND passkey_serial = ? - 1
       RETURNING *`,
  recordPasskeyParams: (id: number, p: PasskeyIssue): unknown[] => [
    p.serial,
    p.tag,
    p.channel,
    p.sentAt,
    p.expiresAt,
    p.sentAt,
    id,
    p.serial,
  ],
  // A passkey's slot, taken before it is sent (the send limit counts messages that went out, so two
  // desks sending at once each take one), and given back when the transport refused it.
  reservePasskeySend: `UPDATE support_cases SET passkey_sends = passkey_sends + 1
       WHERE id = ? AND state IN ('reported', 'passkey_sent') AND passkey_sends < ?
       RETURNING *`,
  releasePasskeySend: 'UPDATE support_cases SET passkey_sends = passkey_sends - 1 WHERE id = ? AND passkey_sends > 0',
  recordFailure: `UPDATE support_cases SET failures = failures + 1,
         state = CASE WHEN failures + 1 >= ? THEN 'locked' ELSE state END,
         passkey_tag = CASE WHEN failures + 1 >= ? THEN NULL ELSE passkey_tag END,
         state_changed_at = CASE WHEN failures + 1 >= ? THEN ? ELSE state_changed_at END,
         version = version + 1
       WHERE id = ? AND state = 'passkey_sent'
       RETURNING *`,
  recordFailureParams: (id: number, limit: number, at: string): unknown[] => [limit, limit, limit, at, id],
  markVerified: `UPDATE support_cases SET state = 'verified', passkey_tag = NULL, verified_at = ?, verified_by = ?,
         verified_via = ?, state_changed_at = ?, version = version + 1
       WHERE id = ? AND state = 'passkey_sent' AND passkey_serial = ? AND passkey_tag = ? AND failures < ?
         AND passkey_expires_at > ?
       RETURNING *`,
  markVerifiedParams: (id: number, p: PasskeyAnswer): unknown[] => [
    p.at,
    p.by,
    p.via,
    p.at,
    id,
    p.serial,
    p.tag,
    p.limit,
    p.at,
  ],
  recordIdentityProcedure: `UPDATE support_cases SET state = 'reported', failures = 0, passkey_sends = 0, passkey_tag = NULL,
         passkey_expires_at = NULL,
         identity_document_type = ?, identity_document_ref = ?, identity_checked_by = ?, identity_approved_by = ?,
         identity_checked_at = ?, state_changed_at = ?, version = version + 1
       WHERE id = ? AND (state = 'locked' OR (${SENDS_USED_UP}))
       RETURNING *`,
  recordIdentityProcedureParams: (id: number, p: IdentityProcedure, at: string): unknown[] => [
    p.documentType,
    p.documentRef,
    p.checkedBy,
    p.approvedBy,
    at,
    at,
    id,
    p.maxSends,
    at,
  ],
  markReissued: `UPDATE support_cases SET state = 'reissued', new_card_ref = ?, reissued_at = ?, state_changed_at = ?,
         version = version + 1
       WHERE id = ? AND state = 'verified' AND new_card_ref IS NULL
       RETURNING *`,
  markReissuedParams: (id: number, newCardRef: number, at: string): unknown[] => [newCardRef, at, at, id],
} as const;

/** A list the report found, as `withdrawable` reads it. */
interface WithdrawableRow {
  id: number;
  seq: number;
  list_id: string;
  state: string;
}
const withdrawn = (l: WithdrawableRow): WithdrawnList => ({ id: l.id, seq: l.seq, listId: l.list_id, was: l.state });

export class SqliteSupportCaseRepository implements SupportCaseRepository {
  private readonly statements: StatementCache;

  constructor(private readonly db: Database) {
    this.statements = new StatementCache(db);
  }

  private one(sql: string, ...params: unknown[]): SupportCaseRecord | null {
    const row = this.statements.get<CaseRow>(sql).get(...params);
    return row ? fromRow(row) : null;
  }

  async byId(id: number): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.byId, id);
  }

  async openForCard(cardRef: number): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.openForCard, cardRef);
  }

  async list(limit: number): Promise<SupportCaseRecord[]> {
    return this.statements.get<CaseRow>(supportCaseSql.list).all(limit).map(fromRow);
  }

  async awaitingForEmail(email: string): Promise<SupportCaseRecord[]> {
    return this.statements.get<CaseRow>(supportCaseSql.awaitingForEmail).all(email.toLowerCase()).map(fromRow);
  }

  async report(r: NewReport, by: { operator: string; at: string }): Promise<ReportOutcome> {
    return this.db.transaction((): ReportOutcome => {
      const open = this.one(supportCaseSql.openForCard, r.cardRef);
      if (open) return { kind: 'existing', supportCase: open };
      const card = this.statements.get<{ state: string }>(supportCaseSql.cardState).get(r.cardRef);
      const blocked = this.statements
        .get<{ id: number }>(supportCaseSql.blockCard)
        .get(...supportCaseSql.blockCardParams(r.cardRef, by.at));
      if (!card || !blocked) return { kind: 'card_not_blockable', cardState: card?.state ?? null };
      const before = this.statements
        .get<WithdrawableRow>(supportCaseSql.withdrawable)
        .all(...supportCaseSql.withdrawableParams(r.cardRef));
      const disable = this.statements.get(supportCaseSql.disableList);
      for (const l of before) disable.run(by.at, l.id, l.state);
      const supportCase = this.one(supportCaseSql.open, ...supportCaseSql.openParams(r, card.state, by));
      if (!supportCase) throw new Error('INSERT … RETURNING returned no row');
      return { kind: 'opened', supportCase, withdrawn: before.map(withdrawn) };
    })();
  }

  async reservePasskeySend(id: number, maxSends: number): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.reservePasskeySend, id, maxSends);
  }

  async releasePasskeySend(id: number): Promise<void> {
    this.statements.get(supportCaseSql.releasePasskeySend).run(id);
  }

  async recordPasskey(id: number, p: PasskeyIssue): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.recordPasskey, ...supportCaseSql.recordPasskeyParams(id, p));
  }

  async recordFailure(id: number, limit: number, at: string): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.recordFailure, ...supportCaseSql.recordFailureParams(id, limit, at));
  }

  async markVerified(id: number, p: PasskeyAnswer): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.markVerified, ...supportCaseSql.markVerifiedParams(id, p));
  }

  async recordIdentityProcedure(id: number, p: IdentityProcedure, at: string): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.recordIdentityProcedure, ...supportCaseSql.recordIdentityProcedureParams(id, p, at));
  }

  async markReissued(id: number, newCardRef: number, at: string): Promise<SupportCaseRecord | null> {
    return this.one(supportCaseSql.markReissued, ...supportCaseSql.markReissuedParams(id, newCardRef, at));
  }
}

/** For the PostgreSQL implementation beside this one (support-case.repository.pg.ts). */
export { fromRow as supportCaseFromRow, withdrawn as withdrawnList, type CaseRow, type WithdrawableRow };

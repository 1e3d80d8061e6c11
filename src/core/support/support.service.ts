import { timingSafeEqual } from 'node:crypto';
import type { Approval } from '../../shared/contract/approval.contract';
import type { OnPresentedHook } from '../activation/activation.service';
import type { SupportCaseView } from '../../shared/contract/support.contract';
import type { AuditActor, AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { Session } from '../auth/session.store';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import type { CustomerRepository } from '../customers/customer.repository';
import type { DualControlService } from '../dual-control/dual-control.service';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import type { Keystore } from '../keystore/keystore.types';
import type { Logger } from '../log';
import type { PolicySource } from '../policy/policy.service';
import type { VerificationEventsRepository } from '../verification/verification-events.repository';
import { asciiLower } from './inbound-message';
import type { PasskeySender } from './passkey-delivery';
import { generatePasskey, groupPasskey, normalisePasskey, passkeyCandidates } from './passkey-format';
import type { PasskeyChannel, ReportReason, SupportCaseRecord, SupportCaseRepository } from './support-case.repository';
import { caseView, channelsMissing, passkeysUsedUp, type CaseContext } from './support-view';

// Support cases (issue 11 items 1 and 2; source 004 claims 1–12, 29–35; docs/support.md). A report
// blocks the card and withdraws its lists in one transaction, so verify refuses the card's codes from
// that moment (card_blocked). The customer then proves who they are out of band: the issuer makes a
// passkey, sends it to the registered second contact, and the customer reads it back at the desk or
// mails it from the registered address to the issuer's address (claim 3). The passkey exists in
// clear only in this call's memory and in the message; the case keeps its keyed tag. Wrong entries
// are counted by compare-and-set; at the policy's limit the case locks until a manager's identity
// procedure under dual control (claims 6 and 35). The reissue (another module) asks `verifiedCase`.

export interface SupportDeps {
  readonly cases: SupportCaseRepository;
  readonly cards: CardRepository;
  readonly customers: Pick<CustomerRepository, 'get'>;
  readonly events: VerificationEventsRepository;
  readonly keystore: { run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T };
  readonly audit: Pick<AuditTrail, 'append'>;
  /** Each change to a case (and the report's withdrawn lists) commits with its entries (repositories.ts). */
  readonly atomically: Atomically;
  readonly policies: PolicySource;
  readonly dualControl: Pick<DualControlService, 'require'>;
  readonly senders: { readonly email: PasskeySender | null; readonly sms: PasskeySender | null };
  readonly inboundAddress: string | null;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Who acts: an operator at the desk, or the inbound mail listener (claim 3). */
export type SupportActor = KeystoreActor;

const INBOUND_ACTOR: SupportActor = { operatorId: null, operator: 'inbound-mail', role: null };

export interface EnterResult {
  readonly case: SupportCaseView;
  readonly result: 'verified' | 'wrong' | 'locked';
  readonly attemptsLeft: number;
}

export class SupportService {
  constructor(private readonly deps: SupportDeps) {}

  private date(): Date {
    return new Date(this.deps.now?.() ?? Date.now());
  }

  // ── report ──────────────────────────────────────────────────────────────────────────────────

  async report(
    input: { n: string; reason: ReportReason; suspicionId?: number | undefined; note?: string | undefined },
    actor: SupportActor,
  ): Promise<{ case: SupportCaseView; created: boolean }> {
    const card = await this.cardByN(input.n);
    let suspicionRef: number | null = null;
    if (input.suspicionId !== undefined) {
      const events = await this.deps.events.suspicionsForCard(card.id, 500);
      if (!events.some((e) => e.id === input.suspicionId))
        throw new AppError(
          'SUSPICION_UNKNOWN',
          `Suspicion event ${input.suspicionId} is not one of card ${card.n}'s. Open the report from the card's own event.`,
        );
      suspicionRef = input.suspicionId;
    }
    const at = this.date().toISOString();
    const note = input.note?.trim() ? input.note.trim() : null;
    const outcome = await this.deps.atomically(async (tx) => {
      const o = await tx.repos.supportCases.report(
        { cardRef: card.id, customerRef: card.customerId, reason: input.reason, suspicionRef, note },
        { operator: actor.operator, at },
      );
      if (o.kind !== 'opened') return o;
      const c = o.supportCase;
      for (const l of o.withdrawn)
        await tx.audit.append({
          ...actor,
          action: 'lists.disabled',
          object: `card:${card.n}`,
          outcome: 'ok',
          details: { seq: l.seq, listId: l.listId, reason: `card reported ${input.reason}`, was: l.was },
        });
      // The events that led here are answered by the report.
      const resolved = await tx.repos.verificationEvents.resolveOpenForCard(
        card.id,
        'card_reported',
        actor.operator,
        at,
      );
      await tx.audit.append({
        ...actor,
        action: 'support.reported',
        object: `card:${card.n}`,
        outcome: 'ok',
        details: {
          case: c.id,
          reason: input.reason,
          cardWas: c.cardStateBefore,
          listsDisabled: o.withdrawn.map((l) => l.seq).join(' '),
          ...(suspicionRef !== null ? { suspicion: suspicionRef } : {}),
          ...(resolved.length ? { suspicionsResolved: resolved.map((e) => e.id).join(' ') } : {}),
        },
      });
      return o;
    });
    if (outcome.kind === 'existing') return { case: await this.view(outcome.supportCase), created: false };
    if (outcome.kind === 'card_not_blockable') {
      await this.deps.audit.append({
        ...actor,
        action: 'support.reported',
        object: `card:${card.n}`,
        outcome: 'denied',
        details: { reason: input.reason, cardState: outcome.cardState ?? 'unknown' },
      });
      throw new AppError(
        'SUPPORT_CARD_NOT_BLOCKABLE',
        `Card ${card.n} is ${outcome.cardState ?? 'gone'}: only an active card or one awaiting activation can be reported. ` +
          (outcome.cardState === 'blocked'
            ? 'It is blocked already (PIN or an earlier report); ask a manager to look at it on the Cards page.'
            : 'Check the card on the customer page.'),
      );
    }
    return { case: await this.view(outcome.supportCase), created: true };
  }

  // ── reading ─────────────────────────────────────────────────────────────────────────────────

  /**
   * A reported card presented at a desk reader (activation's presentation hook): its chip is still
   * active, but the report holds — the record stays blocked and the desk is told why, instead of
   * reconciling chip and record back to active. Migration 0020's trigger holds it for any writer.
   */
  readonly holdReported: OnPresentedHook = async ({ report, record }) => {
    if (record.state !== 'blocked') return null;
    const open = await this.deps.cases.openForCard(record.id);
    if (!open) return null;
    return {
      report,
      record,
      note: `reported ${open.reason.replace('_', ' ')} (support case ${open.id}): the card stays blocked until the case is reissued`,
    };
  };

  async list(limit: number): Promise<{ cases: SupportCaseView[]; settings: ReturnType<SupportService['settings']> }> {
    const rows = await this.deps.cases.list(limit);
    const cases: SupportCaseView[] = [];
    for (const r of rows) cases.push(await this.view(r));
    return { cases, settings: this.settings() };
  }

  async get(caseId: number): Promise<SupportCaseView> {
    return this.view(await this.caseById(caseId));
  }

  settings(): { email: boolean; sms: boolean; inboundAddress: string | null; missing: string[] } {
    const { email, sms } = this.deps.senders;
    return {
      email: email !== null,
      sms: sms !== null,
      inboundAddress: this.deps.inboundAddress,
      missing: channelsMissing(email !== null, sms !== null),
    };
  }

  // ── the passkey ─────────────────────────────────────────────────────────────────────────────

  /** A new passkey for the case, sent to the registered contact; it replaces any earlier one. */
  async sendPasskey(caseId: number, channel: PasskeyChannel, actor: SupportActor): Promise<SupportCaseView> {
    const c = await this.caseById(caseId);
    const ctx = await this.context(c);
    if (c.state === 'locked') throw lockedError();
    if (c.state === 'verified' || c.state === 'reissued')
      throw new AppError(
        'SUPPORT_ALREADY_VERIFIED',
        `Case ${c.id} is verified already; no passkey is needed. Continue with the reissue.`,
      );
    const sender = this.deps.senders[channel];
    // The contact registered when the card was reported, never one changed since: changing the
    // customer's mobile and then asking for the passkey is what an impostor would do.
    const to = channel === 'email' ? c.contactEmail : c.contactMobile;
    if (!sender) throw notConfigured(channel);
    const policy = this.deps.policies.current();
    const now = this.date();
    const usedUp = async (k: SupportCaseRecord) => {
      await this.deps.audit.append({
        ...actor,
        action: 'support.passkey_sent',
        object: `case:${c.id}`,
        outcome: 'denied',
        details: { channel, reason: 'sends_used_up', sent: k.passkeySends, max: policy.passkeyMaxSends },
      });
      return sendsUsedUpError(k, policy.passkeyMaxSends, now);
    };
    // A passkey goes to the customer's own phone or mailbox: a desk may not send them without end.
    if (c.passkeySends >= policy.passkeyMaxSends) throw await usedUp(c);
    if (!to)
      throw new AppError(
        'SUPPORT_NO_CONTACT',
        `${ctx.customer.fullName} had no registered ${channel === 'email' ? 'e-mail address' : 'mobile number'} when the card was reported. ` +
          'Use the other channel, or the identity procedure with a manager. A contact given or changed now must not be used: that is what an impostor would do.',
      );
    const expires = new Date(now.getTime() + policy.passkeyLifetimeMinutes * 60_000);
    const serial = c.passkeySerial + 1;
    const passkey = generatePasskey(policy.passkeyAlphabet, policy.passkeyLength);
    const tag = await this.tag(actor, c.id, serial, passkey);
    // Its slot is taken before it goes out, so desks sending at once count every message against the
    // limit (each takes one, or is refused with nothing sent). Then sent, then recorded: a transport
    // that fails gives the slot back and changes nothing else. A passkey sent while another desk sent
    // one too is refused at the record (the serial moved) and never becomes valid; its slot stays used,
    // as its message went out.
    const slot = await this.deps.cases.reservePasskeySend(c.id, policy.passkeyMaxSends);
    if (!slot) {
      const again = await this.caseById(c.id);
      if (again.state === 'locked') throw lockedError();
      if (again.passkeySends >= policy.passkeyMaxSends) throw await usedUp(again);
      throw new AppError('SUPPORT_CASE_CHANGED', `Case ${c.id} changed at another desk meanwhile. Reload the case.`);
    }
    try {
      await sender.send({ to, passkey: groupPasskey(passkey), expiresAt: expires, cardN: ctx.card.n });
    } catch (err) {
      await this.deps.cases.releasePasskeySend(c.id);
      await this.deps.audit.append({
        ...actor,
        action: 'support.passkey_sent',
        object: `case:${c.id}`,
        outcome: 'failed',
        details: { channel, serial, code: err instanceof AppError ? err.code : 'UNEXPECTED' },
      });
      throw err;
    }
    const saved = await this.deps.atomically(async (tx) => {
      const r = await tx.repos.supportCases.recordPasskey(c.id, {
        serial,
        tag,
        channel,
        sentAt: now.toISOString(),
        expiresAt: expires.toISOString(),
      });
      if (r)
        await tx.audit.append({
          ...actor,
          action: 'support.passkey_sent',
          object: `case:${c.id}`,
          outcome: 'ok',
          details: { channel, serial, card: ctx.card.n, expiresAt: expires.toISOString() },
        });
      return r;
    });
    if (!saved)
      throw new AppError(
        'SUPPORT_CASE_CHANGED',
        `Case ${c.id} changed at another desk meanwhile; the passkey just sent will not work. Reload the case and send again if needed.`,
      );
    return this.view(saved);
  }

  /** The passkey the customer reads back at the desk. */
  async enterPasskey(caseId: number, typed: string, actor: SupportActor): Promise<EnterResult> {
    return this.check(await this.caseById(caseId), typed, actor, 'desk');
  }

  /**
   * Claim 3: a message to the issuer's address. Only cases whose customer's registered e-mail is the
   * From address are considered; a message from any other address changes nothing and is audited.
   */
  async receiveInbound(from: string | null, body: string): Promise<'verified' | 'wrong' | 'ignored'> {
    // ASCII folding only (as the repository's lower()): Unicode case mapping would fold another mailbox onto ours.
    const sender = from && /^[\x21-\x7e]+$/.test(from.trim()) ? asciiLower(from.trim()) : '';
    const cases = sender ? await this.deps.cases.awaitingForEmail(sender) : [];
    const ignore = async (why: string, extra: Record<string, string | number> = {}) => {
      await this.deps.audit.append({
        ...INBOUND_ACTOR,
        action: 'support.inbound_ignored',
        object: cases.length === 1 ? `case:${cases[0]?.id}` : null,
        outcome: 'denied',
        details: { why, ...extra },
      });
      return 'ignored' as const;
    };
    if (cases.length === 0) return await ignore('unknown_sender', { domain: sender.split('@')[1]?.slice(0, 80) ?? '' });
    if (cases.length > 1) return await ignore('several_cases', { cases: cases.length });
    const c = cases[0] as SupportCaseRecord;
    const policy = this.deps.policies.current();
    const found = passkeyCandidates(body.slice(0, 20_000), policy.passkeyAlphabet, policy.passkeyLength);
    // One passkey-shaped word is one attempt; a message full of them is not a way to try many.
    if (found.length !== 1) return await ignore(found.length ? 'several_candidates' : 'no_passkey');
    try {
      const r = await this.check(c, found[0] as string, INBOUND_ACTOR, 'email_reply');
      return r.result === 'verified' ? 'verified' : 'wrong';
    } catch (err) {
      if (err instanceof AppError) return await ignore(err.code.toLowerCase());
      throw err;
    }
  }

  private async check(
    c: SupportCaseRecord,
    typed: string,
    actor: SupportActor,
    via: 'desk' | 'email_reply',
  ): Promise<EnterResult> {
    const policy = this.deps.policies.current();
    const limit = policy.passkeyMaxFailures;
    // Audits a refusal and hands back its error, for `throw await refuse(…)`.
    const refuse = async (why: string, error: AppError): Promise<AppError> => {
      await this.deps.audit.append({
        ...actor,
        action: 'support.passkey_refused',
        object: `case:${c.id}`,
        outcome: 'denied',
        details: { why, via, failures: c.failures },
      });
      return error;
    };
    if (c.state === 'locked') throw await refuse('locked', lockedError());
    if (c.state === 'verified' || c.state === 'reissued')
      throw await refuse(
        'used',
        new AppError(
          'PASSKEY_USED',
          `Case ${c.id} is verified already; its passkey was used and works no more. Continue with the reissue.`,
        ),
      );
    if (c.state !== 'passkey_sent' || !c.passkeyTag || !c.passkeyExpiresAt)
      throw await refuse(
        'none_sent',
        new AppError('PASSKEY_NONE', `No passkey awaits for case ${c.id}. Send one to the customer first.`),
      );
    const now = this.date();
    if (Date.parse(c.passkeyExpiresAt ?? '') <= now.getTime())
      throw await refuse(
        'expired',
        new AppError(
          'PASSKEY_EXPIRED',
          `The passkey for case ${c.id} expired at ${c.passkeyExpiresAt?.slice(11, 16)} UTC and works no more. ` +
            (c.passkeySends >= policy.passkeyMaxSends
              ? 'No more passkeys can be sent in this case: a manager must check the customer’s identity document in person (Support page, “Identity procedure”).'
              : 'Send a new one.'),
        ),
      );
    const value = normalisePasskey(typed, policy.passkeyAlphabet);
    // A value of another shape cannot be the passkey; it is tagged all the same and counts as wrong.
    const given = Buffer.from(await this.tag(actor, c.id, c.passkeySerial, value.slice(0, 64)), 'hex');
    const expected = Buffer.from(c.passkeyTag ?? '', 'hex');
    // At or past the limit (the policy lowered it meanwhile) nothing matches: the entry locks the case.
    const match = c.failures < limit && given.length === expected.length && timingSafeEqual(given, expected);
    const at = now.toISOString();
    if (match) {
      const verified = await this.deps.atomically(async (tx) => {
        const v = await tx.repos.supportCases.markVerified(c.id, {
          serial: c.passkeySerial,
          tag: c.passkeyTag ?? '',
          limit,
          via,
          by: actor.operator ?? 'inbound-mail',
          at,
        });
        if (v)
          await tx.audit.append({
            ...actor,
            action: 'support.verified',
            object: `case:${c.id}`,
            outcome: 'ok',
            details: { via, channel: c.passkeyChannel ?? '', failures: v.failures },
          });
        return v;
      });
      if (verified) {
        return { case: await this.view(verified), result: 'verified', attemptsLeft: limit - verified.failures };
      }
      // Locked, replaced or used by a concurrent call between the read and the compare-and-set.
      const now2 = await this.caseById(c.id);
      if (now2.state === 'locked') throw await refuse('locked', lockedError());
      throw await refuse(
        'changed',
        new AppError(
          'PASSKEY_NONE',
          `The passkey for case ${c.id} was replaced, used or expired meanwhile. Check the case and send a new one if needed.`,
        ),
      );
    }
    const counted = await this.deps.atomically(async (tx) => {
      const f = await tx.repos.supportCases.recordFailure(c.id, limit, at);
      if (f)
        await tx.audit.append({
          ...actor,
          action: f.state === 'locked' ? 'support.locked' : 'support.passkey_wrong',
          object: `case:${c.id}`,
          outcome: 'denied',
          details: { via, failures: f.failures, limit },
        });
      return f;
    });
    if (!counted) {
      const now2 = await this.caseById(c.id);
      throw await refuse(
        now2.state === 'locked' ? 'locked' : 'changed',
        now2.state === 'locked'
          ? lockedError()
          : new AppError('PASSKEY_NONE', `No passkey awaits for case ${c.id} any more. Reload the case.`),
      );
    }
    const after = counted;
    const locked = after.state === 'locked';
    return { case: await this.view(after), result: locked ? 'locked' : 'wrong', attemptsLeft: limit - after.failures };
  }

  // ── the manager's identity procedure ────────────────────────────────────────────────────────

  /**
   * Claims 6 and 35: after the lockout, a manager checks the customer's identity document in person
   * and records it; a second manager approves (policy action recovery.unlock). The lockout lifts and
   * the case goes back to "send a passkey": the procedure replaces the failed attempts, not the passkey.
   */
  async identityProcedure(
    session: Session,
    input: { caseId: number; documentType: string; documentRef: string; approval?: Approval | undefined },
  ): Promise<SupportCaseView> {
    const c = await this.caseById(input.caseId);
    const maxSends = this.deps.policies.current().passkeyMaxSends;
    const usedUp = passkeysUsedUp(c, maxSends, this.date());
    if (c.state !== 'locked' && !usedUp)
      throw new AppError(
        'SUPPORT_NOT_LOCKED',
        `Case ${c.id} is not locked out; the identity procedure is for a case locked after wrong passkeys, or one that has sent all its passkeys with none still valid.`,
      );
    // The document reference is part of the approved input, so the approval is for this very check.
    const approver = await this.deps.dualControl.require('recovery.unlock', session, input.approval, {
      caseId: c.id,
      documentType: input.documentType,
      documentRef: input.documentRef,
    });
    const actor: AuditActor & { operator: string } = {
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
    };
    const at = this.date().toISOString();
    const done = await this.deps.atomically(async (tx) => {
      const d = await tx.repos.supportCases.recordIdentityProcedure(
        c.id,
        {
          documentType: input.documentType,
          documentRef: input.documentRef.trim(),
          checkedBy: session.username,
          approvedBy: approver?.username ?? '',
          maxSends,
        },
        at,
      );
      if (d)
        await tx.audit.append({
          ...actor,
          action: 'support.identity_procedure',
          object: `case:${c.id}`,
          outcome: 'ok',
          details: {
            documentType: input.documentType,
            approvedBy: approver?.username ?? '',
            failuresCleared: c.failures,
            passkeysCleared: c.passkeySends,
          },
        });
      return d;
    });
    if (!done)
      throw new AppError('SUPPORT_CASE_CHANGED', `Case ${c.id} changed at another desk meanwhile. Reload the case.`);
    return this.view(done);
  }

  // ── the gate the reissue calls ──────────────────────────────────────────────────────────────

  /** The case's customer and old card once identity was verified out of band; throws AppError otherwise. */
  async verifiedCase(caseId: number): Promise<{ customerId: number; oldCardId: number }> {
    const c = await this.caseById(caseId);
    if (c.state === 'reissued')
      throw new AppError('SUPPORT_ALREADY_REISSUED', `Case ${c.id} was reissued already. Open the customer page.`);
    if (c.state !== 'verified')
      throw new AppError(
        'SUPPORT_NOT_VERIFIED',
        c.state === 'locked'
          ? lockedError().message
          : `The customer of case ${c.id} has not proved their identity yet. Send a passkey and have them read it back.`,
      );
    return { customerId: c.customerRef, oldCardId: c.cardRef };
  }

  /** Marks the case reissued with the new card (compare-and-set from 'verified'). */
  async markReissued(caseId: number, newCardId: number): Promise<void> {
    const c = await this.caseById(caseId);
    const at = this.date().toISOString();
    const done = await this.deps.atomically(async (tx) => {
      const d = await tx.repos.supportCases.markReissued(c.id, newCardId, at);
      if (d)
        await tx.audit.append({
          operatorId: null,
          operator: null,
          role: null,
          action: 'support.reissued',
          object: `case:${c.id}`,
          outcome: 'ok',
          details: { newCard: newCardId },
        });
      return d;
    });
    if (!done)
      throw new AppError(
        c.state === 'reissued' ? 'SUPPORT_ALREADY_REISSUED' : 'SUPPORT_NOT_VERIFIED',
        c.state === 'reissued'
          ? `Case ${c.id} was reissued already.`
          : `Case ${c.id} is not verified; the reissue waits for the customer's passkey.`,
      );
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  private tag(actor: SupportActor, caseId: number, serial: number, passkey: string): Promise<string> {
    return this.deps.keystore.run(actor, (ks) => ks.passkeyTag(`case:${caseId}:${serial}`, passkey));
  }

  private async caseById(caseId: number): Promise<SupportCaseRecord> {
    const c = await this.deps.cases.byId(caseId);
    if (!c)
      throw new AppError('SUPPORT_CASE_UNKNOWN', `There is no support case ${caseId}. Open the Support page again.`);
    return c;
  }

  private async cardByN(n: string): Promise<CardRecord> {
    const card = await this.deps.cards.byN(n.trim());
    if (!card) throw new AppError('CARD_UNKNOWN', `No card has the identification code ${n.slice(0, 64)}. Check N.`);
    return card;
  }

  private async context(c: SupportCaseRecord): Promise<CaseContext> {
    const card = await this.deps.cards.byId(c.cardRef);
    const customer = await this.deps.customers.get(c.customerRef);
    if (!card || !customer) throw new Error(`case ${c.id}: card or customer row missing`);
    const newCard = c.newCardRef !== null ? await this.deps.cards.byId(c.newCardRef) : null;
    return { card, customer, newCard };
  }

  private async view(c: SupportCaseRecord): Promise<SupportCaseView> {
    const policy = this.deps.policies.current();
    return caseView(c, await this.context(c), {
      now: this.date(),
      maxFailures: policy.passkeyMaxFailures,
      maxSends: policy.passkeyMaxSends,
      email: this.deps.senders.email !== null,
      sms: this.deps.senders.sms !== null,
      inboundAddress: this.deps.inboundAddress,
    });
  }
}

function lockedError(): AppError {
  return new AppError(
    'SUPPORT_LOCKED',
    'Too many wrong passkeys: this case is locked. A manager must check the customer’s identity document in person and record it with a second manager’s approval (Support page, “Identity procedure”).',
  );
}

/** The case has sent the policy's passkeyMaxSends passkeys. */
function sendsUsedUpError(c: SupportCaseRecord, maxSends: number, now: Date): AppError {
  const valid = c.passkeyExpiresAt !== null && Date.parse(c.passkeyExpiresAt) > now.getTime();
  return new AppError(
    'SUPPORT_PASSKEYS_USED_UP',
    `Case ${c.id} has sent its ${maxSends} passkeys; no more are sent to the customer. ` +
      (valid
        ? `The last one works until ${c.passkeyExpiresAt?.slice(11, 16)} UTC: ask the customer to read it from their ${c.passkeyChannel === 'email' ? 'e-mail' : 'SMS'}.`
        : 'A manager must check the customer’s identity document in person and record it with a second manager’s approval (Support page, “Identity procedure”); then passkeys can be sent again.'),
  );
}

function notConfigured(channel: PasskeyChannel): AppError {
  return new AppError(
    'SUPPORT_CHANNEL_NOT_CONFIGURED',
    channel === 'email'
      ? 'This desk has no mail server configured. Set OTAC_SMTP_HOST, OTAC_SMTP_PORT, OTAC_SMTP_TLS and OTAC_MAIL_FROM (docs/support.md), or send by SMS.'
      : 'This desk has no SMS gateway configured. Set OTAC_SMS_GATEWAY_URL and OTAC_SMS_GATEWAY_TOKEN (docs/support.md), or send by e-mail.',
  );
}

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { addOperator, approvalFor, approvalOf, auditRows, value, type TestOperator } from '../../support/operators';
import { CUSTOMER_MOBILE, reportedCase, supportGate } from '../../support/support-cases';
import { passkeyIn, smsSink, supportOptions, type SmsSink } from '../../support/support-channels';
import { engineDeskWithKeystore, type EngineDesk } from '../../support/verify-service';

// Issue 11 item 2 through the SMS channel (the gateway a loopback sink that records each POST): the
// passkey works once, until it expires, and only the newest; wrong ones count by compare-and-set up to
// the policy's limit, then the case is locked — the right passkey too is refused — until a manager
// records the identity procedure under dual control (recovery.unlock); then a new passkey is needed.
// Every attack is shown refused with nothing changed.

type Entered = { case: { state: string; failures: number }; result: string; attemptsLeft: number };

describe('the out-of-band passkey: single use, expiry, lockout and the manager procedure', () => {
  let desk: EngineDesk;
  let ws: DeskWorkstation;
  let sms: SmsSink;
  let support: TestOperator;
  let manager: TestOperator;
  let approver: TestOperator;
  let ahead = 0; // how far the desk's clock runs ahead of the real one
  const send = (caseId: number, channel = 'sms', op = support) =>
    ws.router.dispatch(op.client, 'support:sendPasskey', { caseId, channel });
  const enter = (caseId: number, passkey: string, op = support) =>
    ws.router.dispatch(op.client, 'support:enterPasskey', { caseId, passkey });
  const row = async (caseId: number) => (await desk.sql.get('SELECT * FROM support_cases WHERE id = ?', caseId))!;
  const lastPasskey = () => passkeyIn(sms.messages.at(-1)?.body.text ?? '');
  const wrongFor = (right: string) => (right.startsWith('2') ? '3' : '2') + right.slice(1);

  beforeAll(async () => {
    sms = await smsSink();
    desk = await engineDeskWithKeystore({ now: () => Date.now() + ahead, support: supportOptions(null, sms) });
    ws = desk.ws;
    support = await addOperator(ws, 'support');
    manager = await addOperator(ws, 'manager');
    approver = await addOperator(ws, 'manager');
  }, 60_000);
  afterAll(async () => {
    await desk?.dispose();
    await sms?.close();
  });

  it('texts a passkey of the policy format to the registered mobile with the bearer token; it works once', async () => {
    const { caseId, customerId, cardId } = await reportedCase(ws, support);
    const sent = value(await send(caseId)) as {
      state: string;
      step: string;
      passkey: { channel: string; expiresAt: string };
    };
    expect(sent).toMatchObject({ state: 'passkey_sent', step: 'enter', passkey: { channel: 'sms' } });
    const message = sms.messages.at(-1);
    expect(message?.authorization).toBe(`Bearer ${sms.token}`);
    expect(message?.body.to).toBe(CUSTOMER_MOBILE);
    const passkey = lastPasskey();
    expect(passkey).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/); // 8 of Crockford base32 (policy default)
    expect(Date.parse(sent.passkey.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    // the gate is shut until the customer is verified
    const gate = await supportGate(ws, join(desk.dataDir, 'logs', 'gate.log'));
    await expect(gate.verifiedCase(caseId)).rejects.toMatchObject({ code: 'SUPPORT_NOT_VERIFIED' });
    // read back as a person types it: lower case, a space instead of the dash
    const ok = value(await enter(caseId, passkey.toLowerCase().replace('-', ' '))) as Entered;
    expect(ok).toMatchObject({ result: 'verified', case: { state: 'verified' } });
    expect(await row(caseId)).toMatchObject({ passkey_tag: null, verified_via: 'desk', verified_by: support.username });
    // used: refused, nothing changed
    const before = await row(caseId);
    expect(await enter(caseId, passkey)).toMatchObject({ ok: false, error: { code: 'PASSKEY_USED' } });
    expect(await send(caseId)).toMatchObject({ ok: false, error: { code: 'SUPPORT_ALREADY_VERIFIED' } });
    expect(await row(caseId)).toEqual(before);
    expect(await gate.verifiedCase(caseId)).toEqual({ customerId, oldCardId: cardId });
    await gate.markReissued(caseId, cardId);
    await expect(gate.markReissued(caseId, cardId)).rejects.toMatchObject({ code: 'SUPPORT_ALREADY_REISSUED' });
    await expect(gate.verifiedCase(caseId)).rejects.toMatchObject({ code: 'SUPPORT_ALREADY_REISSUED' });
  });

  it('a new passkey replaces the one before: the old one is refused as wrong, the new one works', async () => {
    const { caseId } = await reportedCase(ws, support);
    value(await send(caseId));
    const first = lastPasskey();
    value(await send(caseId));
    const second = lastPasskey();
    expect(second).not.toBe(first);
    expect(value(await enter(caseId, first))).toMatchObject({ result: 'wrong', attemptsLeft: 2 });
    // sending again does not wipe the count: a guesser cannot reset the lockout by asking for passkeys
    value(await send(caseId));
    const third = lastPasskey();
    expect(value(await enter(caseId, second))).toMatchObject({ result: 'wrong', attemptsLeft: 1 });
    expect(value(await enter(caseId, third))).toMatchObject({ result: 'verified' });
  });

  it('an expired passkey is refused and changes nothing; a fresh one works', async () => {
    const { caseId } = await reportedCase(ws, support);
    value(await send(caseId));
    const passkey = lastPasskey();
    ahead = 15 * 60_000 + 1000; // the policy's 15 minutes and a second
    try {
      const before = await row(caseId);
      expect(await enter(caseId, passkey)).toMatchObject({ ok: false, error: { code: 'PASSKEY_EXPIRED' } });
      expect(await enter(caseId, wrongFor(passkey))).toMatchObject({ ok: false, error: { code: 'PASSKEY_EXPIRED' } });
      expect(await row(caseId)).toEqual(before);
      value(await send(caseId));
      expect(value(await enter(caseId, lastPasskey()))).toMatchObject({ result: 'verified' });
    } finally {
      ahead = 0;
    }
  });

  it('wrong passkeys up to the limit lock the case; the right one is then refused; a manager procedure under dual control unlocks and a new passkey is needed', async () => {
    const { caseId } = await reportedCase(ws, support);
    value(await send(caseId));
    const right = lastPasskey();
    expect(value(await enter(caseId, wrongFor(right)))).toMatchObject({ result: 'wrong', attemptsLeft: 2 });
    expect(value(await enter(caseId, 'not even the shape'))).toMatchObject({ result: 'wrong', attemptsLeft: 1 });
    expect(value(await enter(caseId, wrongFor(right)))).toMatchObject({
      result: 'locked',
      attemptsLeft: 0,
      case: { state: 'locked' },
    });
    const locked = await row(caseId);
    expect(locked).toMatchObject({ state: 'locked', failures: 3, passkey_tag: null });
    // the right passkey, a new passkey, a second manager's absence, a support operator: all refused, nothing changed
    const refusal = await enter(caseId, right);
    expect(refusal).toMatchObject({ ok: false, error: { code: 'SUPPORT_LOCKED' } });
    expect(refusal.ok ? '' : refusal.error.message).toMatch(/A manager must/);
    expect(await send(caseId)).toMatchObject({ ok: false, error: { code: 'SUPPORT_LOCKED' } });
    const procedure = { caseId, documentType: 'passport', documentRef: 'P1234567' };
    expect(await ws.router.dispatch(support.client, 'support:identityProcedure', procedure)).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    expect(await ws.router.dispatch(manager.client, 'support:identityProcedure', procedure)).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    // the manager approving themselves
    const self = await approvalFor(ws, manager, 'recovery.unlock', approvalOf(manager));
    expect(
      await ws.router.dispatch(manager.client, 'support:identityProcedure', { ...procedure, approval: self }),
    ).toMatchObject({
      ok: false,
    });
    // an approval taken for another action
    const other = await approvalFor(ws, manager, 'card.unblock', approvalOf(approver));
    expect(
      await ws.router.dispatch(manager.client, 'support:identityProcedure', { ...procedure, approval: other }),
    ).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_MISMATCH' },
    });
    expect(await row(caseId)).toEqual(locked);
    expect(
      await (
        await supportGate(ws, join(desk.dataDir, 'logs', 'gate.log'))
      )
        .verifiedCase(caseId)
        .catch((e: { code: string }) => e.code),
    ).toBe('SUPPORT_NOT_VERIFIED');

    const approval = await approvalFor(ws, manager, 'recovery.unlock', approvalOf(approver));
    const unlocked = value(
      await ws.router.dispatch(manager.client, 'support:identityProcedure', { ...procedure, approval }),
    ) as {
      state: string;
      step: string;
      failures: number;
      identity: { documentType: string; checkedBy: string; approvedBy: string };
    };
    expect(unlocked).toMatchObject({
      state: 'reported',
      step: 'send',
      failures: 0,
      identity: { documentType: 'passport', checkedBy: manager.username, approvedBy: approver.username },
    });
    expect(await row(caseId)).toMatchObject({ identity_document_ref: 'P1234567' });
    expect(await auditRows(ws)).toContainEqual(
      expect.objectContaining({ action: 'support.identity_procedure', object: `case:${caseId}` }),
    );
    expect(JSON.stringify(await auditRows(ws))).not.toContain('P1234567'); // the document number stays in the case
    // the old passkey does not come back: a new one is needed
    expect(await enter(caseId, right)).toMatchObject({ ok: false, error: { code: 'PASSKEY_NONE' } });
    value(await send(caseId));
    expect(value(await enter(caseId, lastPasskey()))).toMatchObject({ result: 'verified' });
  });

  it('brute force: 50 concurrent wrong entries never count past the limit, and the right passkey is then refused; nothing else changed', async () => {
    const { caseId, cardId } = await reportedCase(ws, support);
    value(await send(caseId));
    const right = lastPasskey();
    const cardNow = () => desk.sql.get('SELECT * FROM cards WHERE id = ?', cardId);
    const listsNow = () => desk.sql.all('SELECT * FROM code_lists WHERE card_ref = ? ORDER BY id', cardId);
    const cardBefore = await cardNow();
    const listsBefore = await listsNow();
    const auditBefore = (await auditRows(ws)).length;
    const guesses = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(2, '0')}ZZZZZZ`);
    const results = await Promise.all(guesses.map((g) => enter(caseId, g)));
    const counted = results.filter((r) => r.ok).map((r) => (r.ok ? (r.value as Entered).result : ''));
    expect(counted.sort()).toEqual(['locked', 'wrong', 'wrong']);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.error.code === 'SUPPORT_LOCKED')).toBe(true);
    expect(await row(caseId)).toMatchObject({ state: 'locked', failures: 3 });
    // the right passkey, alone and 10 times at once, after the lock
    const late = await Promise.all(Array.from({ length: 10 }, () => enter(caseId, right)));
    expect(late.every((r) => !r.ok && r.error.code === 'SUPPORT_LOCKED')).toBe(true);
    expect(await row(caseId)).toMatchObject({ state: 'locked', failures: 3, verified_at: null });
    expect(await cardNow()).toEqual(cardBefore);
    expect(await listsNow()).toEqual(listsBefore);
    const written = (await auditRows(ws)).slice(auditBefore);
    expect(written.filter((a) => a.action === 'support.passkey_wrong')).toHaveLength(2);
    expect(written.filter((a) => a.action === 'support.locked')).toHaveLength(1);
    expect(written.filter((a) => a.action === 'support.verified')).toHaveLength(0);
  });

  it('refuses a channel this desk lacks or a contact the customer never registered, saying what to do; a gateway refusal changes nothing', async () => {
    const { caseId } = await reportedCase(ws, support, { mobile: null });
    const email = await send(caseId, 'email');
    expect(email).toMatchObject({ ok: false, error: { code: 'SUPPORT_CHANNEL_NOT_CONFIGURED' } });
    expect(email.ok ? '' : email.error.message).toContain('OTAC_SMTP_HOST');
    expect(await send(caseId, 'sms')).toMatchObject({ ok: false, error: { code: 'SUPPORT_NO_CONTACT' } });
    const other = await reportedCase(ws, support);
    const before = await row(other.caseId);
    sms.status = 503;
    try {
      expect(await send(other.caseId)).toMatchObject({ ok: false, error: { code: 'PASSKEY_SEND_FAILED' } });
    } finally {
      sms.status = 202;
    }
    expect(await row(other.caseId)).toEqual(before);
    const view = value(await ws.router.dispatch(support.client, 'support:cases', {})) as {
      settings: { email: boolean; sms: boolean; missing: string[] };
    };
    expect(view.settings).toMatchObject({ email: false, sms: true });
    expect(view.settings.missing.join(' ')).toContain('OTAC_MAIL_FROM');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../../src/core/policy/policy-values';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { addOperator, approvalFor, approvalOf, auditRows, value, type TestOperator } from '../../support/operators';
import { reportedCase } from '../../support/support-cases';
import { passkeyIn, smsSink, supportOptions, type SmsSink } from '../../support/support-channels';
import { engineDeskWithKeystore, type EngineDesk } from '../../support/verify-service';

// How many passkeys a case sends (policy passkeyMaxSends, migration 0024; docs/support.md "How many
// passkeys"): each goes to the customer's own phone or mailbox, so a desk — or an impostor talking
// one into "send it again" — cannot flood it. At the limit the send is refused before anything goes
// out; the last passkey still works while valid; once it has expired only the manager's identity
// procedure moves the case on, and it gives the full allowance back. The gateway is a loopback sink
// that records each POST, so "nothing sent" is counted, not assumed.

type View = { state: string; step: string; passkeysSent: number; maxPasskeys: number };

describe('passkeys sent per case: a limit, refused with nothing sent, lifted only in person', () => {
  let desk: EngineDesk;
  let ws: DeskWorkstation;
  let sms: SmsSink;
  let support: TestOperator;
  let manager: TestOperator;
  let approver: TestOperator;
  let ahead = 0; // how far the desk's clock runs ahead of the real one
  const MAX = DEFAULT_POLICIES.passkeyMaxSends;
  const send = (caseId: number, op = support) =>
    ws.router.dispatch(op.client, 'support:sendPasskey', { caseId, channel: 'sms' });
  const view = async (caseId: number) =>
    value(await ws.router.dispatch(support.client, 'support:case', { caseId })) as View;
  const row = async (caseId: number) => (await desk.sql.get('SELECT * FROM support_cases WHERE id = ?', caseId))!;
  const procedure = async (caseId: number) =>
    ws.router.dispatch(manager.client, 'support:identityProcedure', {
      caseId,
      documentType: 'passport',
      documentRef: 'P7654321',
      approval: await approvalFor(ws, manager, 'recovery.unlock', approvalOf(approver)),
    });

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

  it('sends the policy’s number, then refuses with nothing sent or changed; the last passkey still works', async () => {
    expect(MAX).toBeGreaterThan(1);
    const { caseId } = await reportedCase(ws, support);
    expect(await view(caseId)).toMatchObject({ passkeysSent: 0, maxPasskeys: MAX, step: 'send' });
    for (let i = 1; i <= MAX; i++) expect(value(await send(caseId))).toMatchObject({ passkeysSent: i, step: 'enter' });
    const messages = sms.messages.length;
    const last = passkeyIn(sms.messages.at(-1)?.body.text ?? '');
    const before = await row(caseId);
    const refused = await send(caseId);
    expect(refused).toMatchObject({ ok: false, error: { code: 'SUPPORT_PASSKEYS_USED_UP' } });
    expect(refused.ok ? '' : refused.error.message).toMatch(/works until \d\d:\d\d UTC/);
    expect(refused.ok ? '' : refused.error.message).not.toContain(last);
    expect(sms.messages.length).toBe(messages);
    expect(await row(caseId)).toEqual(before);
    const denied = (await auditRows(ws)).filter(
      (r) => r.action === 'support.passkey_sent' && r.object === `case:${caseId}` && r.outcome === 'denied',
    );
    expect(denied).toHaveLength(1);
    // While the last passkey is valid the identity procedure is not the way: refused, nothing changed.
    expect(await procedure(caseId)).toMatchObject({ ok: false, error: { code: 'SUPPORT_NOT_LOCKED' } });
    expect(await row(caseId)).toEqual(before);
    const ok = value(await ws.router.dispatch(support.client, 'support:enterPasskey', { caseId, passkey: last })) as {
      result: string;
    };
    expect(ok.result).toBe('verified');
  });

  it('once the last passkey has expired the case waits for the identity procedure, which gives the allowance back', async () => {
    const { caseId } = await reportedCase(ws, support);
    for (let i = 1; i <= MAX; i++) value(await send(caseId));
    ahead += (DEFAULT_POLICIES.passkeyLifetimeMinutes + 1) * 60_000;
    try {
      expect(await view(caseId)).toMatchObject({ state: 'passkey_sent', step: 'locked', passkeysSent: MAX });
      const refused = await send(caseId);
      expect(refused.ok ? '' : refused.error.message).toMatch(/A manager must check/);
      // Not a support operator's to do, and not without a second manager.
      expect(
        await ws.router.dispatch(support.client, 'support:identityProcedure', {
          caseId,
          documentType: 'passport',
          documentRef: 'P7654321',
        }),
      ).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
      const lifted = value(await procedure(caseId)) as View & { identity: { checkedBy: string } };
      expect(lifted).toMatchObject({ state: 'reported', step: 'send', passkeysSent: 0 });
      expect(lifted.identity.checkedBy).toBe(manager.username);
      const entry = (await auditRows(ws)).findLast((r) => r.action === 'support.identity_procedure');
      expect(entry?.details).toContain(`"passkeysCleared":${MAX}`);
      expect(value(await send(caseId))).toMatchObject({ passkeysSent: 1, step: 'enter' });
      expect(await row(caseId)).toMatchObject({ passkey_serial: MAX + 1, passkey_sends: 1 });
    } finally {
      ahead = 0;
    }
  });

  it('ATTACK: sends from many desks at once: no more messages go out than the limit allows', async () => {
    // Each send takes its slot before it goes out: those past the limit are refused with nothing sent,
    // whatever the race (the record's serial then picks the one passkey that works).
    const { caseId } = await reportedCase(ws, support);
    const desks = [support, await addOperator(ws, 'support'), await addOperator(ws, 'support')];
    const before = sms.messages.length;
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send(caseId, desks[i % desks.length])));
    expect(sms.messages.length - before).toBe(MAX);
    expect(answers.filter((a) => !a.ok && a.error.code === 'SUPPORT_PASSKEYS_USED_UP')).toHaveLength(12 - MAX);
    expect(answers.filter((a) => a.ok).length).toBeGreaterThanOrEqual(1);
    expect(await row(caseId)).toMatchObject({ passkey_sends: MAX, state: 'passkey_sent' });
  });

  it('ATTACK: sends from many desks at once at the last allowance: one goes out and is recorded', async () => {
    const { caseId } = await reportedCase(ws, support);
    for (let i = 1; i < MAX; i++) value(await send(caseId));
    const desks = [support, await addOperator(ws, 'support'), await addOperator(ws, 'support')];
    const before = sms.messages.length;
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send(caseId, desks[i % desks.length])));
    expect(sms.messages.length - before).toBe(1);
    const recorded = answers.filter((a) => a.ok);
    expect(recorded).toHaveLength(1);
    for (const a of answers.filter((x) => !x.ok)) expect(a.ok ? '' : a.error.code).toBe('SUPPORT_PASSKEYS_USED_UP');
    expect(await row(caseId)).toMatchObject({ passkey_sends: MAX, passkey_serial: MAX, state: 'passkey_sent' });
    // Anything asked for after the race is refused before it is sent.
    const messages = sms.messages.length;
    expect(await send(caseId)).toMatchObject({ ok: false, error: { code: 'SUPPORT_PASSKEYS_USED_UP' } });
    expect(sms.messages.length).toBe(messages);
  });
});

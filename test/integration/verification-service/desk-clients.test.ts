import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelInput, ChannelName, ChannelOutput } from '../../../src/shared/contract';
import { clientCertificateRequest } from '../../support/client-certificates';
import { addOperator, approvalFor, auditRows, value, type TestOperator } from '../../support/operators';
import { call, cardWithCodes, engineDeskWithKeystore, type EngineDesk } from '../../support/verify-service';
import { startServiceOn } from '../../support/desk-service';

// The verification service's clients made at the desk (issue 10 item 1): a manager creates one under
// dual control `verify_client.create`, the API key comes back once and never again by any channel,
// the service takes it at once and refuses it once revoked. Attacks: a clerk, no approval, a replayed
// approval, the manager approving their own request — each refused with no client made. And the card
// side: the service's failure lockout and refill state as the desk sees them, and the clear.

describe('verification clients and card lockouts at the desk', () => {
  let desk: EngineDesk;
  let manager: TestOperator;
  let approver: TestOperator;
  let clerk: TestOperator;

  const clientCount = async () => (await desk.sql.get<{ c: number }>('SELECT count(*) AS c FROM verify_clients'))!.c;
  /** A call that must succeed, typed by its channel. */
  const ask = async <C extends ChannelName>(op: TestOperator, channel: C, input: ChannelInput<C>) =>
    value(await desk.ws.router.dispatch(op.client, channel, input)) as ChannelOutput<C>;
  const dispatch = (op: TestOperator, channel: string, input: unknown) =>
    desk.ws.router.dispatch(op.client, channel, input);

  beforeAll(async () => {
    desk = await engineDeskWithKeystore();
    manager = await addOperator(desk.ws, 'manager');
    approver = await addOperator(desk.ws, 'manager');
    clerk = await addOperator(desk.ws, 'clerk');
  }, 60_000);
  afterAll(async () => {
    await desk?.dispose();
  });

  it('creates an API-key client under dual control; the key is shown once and works at the service until revoked', async () => {
    const approval = await approvalFor(desk.ws, manager, 'verify_client.create', approver);
    const made = await ask(manager, 'verifyClients:create', {
      name: 'online-banking',
      scopes: ['verify'],
      approval,
    });
    expect(made.apiKey).toMatch(/^otac_[0-9a-f]{16}_/);
    // The secret is base64url, which may itself hold '_': everything after the key id.
    const secret = /^otac_[0-9a-f]{16}_(.+)$/.exec(made.apiKey)?.[1] ?? '';
    expect(secret.length).toBeGreaterThan(40);

    // Never again: not in the list, not in the audit, not in the database.
    const listed = await ask(manager, 'verifyClients:list', {});
    expect(listed.clients.find((c) => c.keyId === made.client.keyId)).toMatchObject({
      name: 'online-banking',
      scopes: ['verify'],
      credential: 'api_key',
      createdBy: manager.username,
      revokedAt: null,
    });
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(JSON.stringify(await auditRows(desk.ws))).not.toContain(secret);
    const dump = JSON.stringify(await desk.sql.all('SELECT * FROM verify_clients ORDER BY id'));
    expect(dump).not.toContain(secret);

    // The service (its own connection) takes the key at once, and refuses it once revoked.
    const { card, codes } = await cardWithCodes(desk.ws);
    const svc = await startServiceOn(desk.dataDir, desk.database);
    try {
      const ok = await call(svc.url, '/v1/verify', { key: made.apiKey, body: { n: card.n, code: codes[0], index: 1 } });
      expect(ok.body).toMatchObject({ result: 'accepted' });
      await ask(approver, 'verifyClients:revoke', { keyId: made.client.keyId });
      const refused = await call(svc.url, '/v1/verify', {
        key: made.apiKey,
        body: { n: card.n, code: codes[1], index: 2 },
      });
      expect(refused.status).toBe(401);
    } finally {
      await svc.close();
    }
    const after = await ask(manager, 'verifyClients:list', {});
    expect(after.clients.find((c) => c.keyId === made.client.keyId)?.revokedAt).not.toBeNull();
    expect((await auditRows(desk.ws)).map((r) => r.action)).toEqual(
      expect.arrayContaining(['verify_client.created', 'verify_client.revoked']),
    );
  }, 60_000);

  it('refuses a clerk, a missing approval, a replayed approval and a self-approval, making no client', async () => {
    const before = await clientCount();
    const input = { name: 'intruder', scopes: ['verify', 'read'] };
    const codeOf = async (op: TestOperator, extra: object) => {
      const r = await dispatch(op, 'verifyClients:create', { ...input, ...extra });
      return r.ok ? 'MADE' : r.error.code;
    };
    // A clerk may not even ask (the contract's access rule), with or without an approval.
    expect(await codeOf(clerk, {})).toBe('FORBIDDEN');
    expect(await codeOf(manager, {})).toBe('APPROVAL_REQUIRED');
    const approval = await approvalFor(desk.ws, manager, 'verify_client.create', approver);
    expect(await codeOf(manager, { approval })).toBe('MADE');
    const made = await clientCount();
    expect(await codeOf(manager, { approval })).toBe('APPROVAL_STALE'); // replayed
    const own = await approvalFor(desk.ws, manager, 'verify_client.create', manager);
    expect(await codeOf(manager, { approval: own })).toBe('APPROVAL_SAME_OPERATOR');
    // An approval for another action does not make a client either.
    const other = await approvalFor(desk.ws, manager, 'mailer.print', approver);
    expect(await codeOf(manager, { approval: other })).toBe('APPROVAL_MISMATCH');
    // A certificate under a replayed approval: refused too.
    const csr = clientCertificateRequest().csrPem;
    const cert = await dispatch(manager, 'verifyClients:issueCertificate', { ...input, csrPem: csr, approval });
    expect(cert.ok ? 'MADE' : cert.error.code).toBe('APPROVAL_STALE');
    expect(await clientCount()).toBe(made);
    expect(made).toBe(before + 1);
    // And a clerk cannot list or revoke.
    expect((await dispatch(clerk, 'verifyClients:list', {})).ok).toBe(false);
  });

  it('issues a client certificate for a CSR under dual control and lists it by serial', async () => {
    const approval = await approvalFor(desk.ws, manager, 'verify_client.create', approver);
    const req = clientCertificateRequest('payments-gateway');
    const out = await ask(manager, 'verifyClients:issueCertificate', {
      name: 'payments-gateway',
      scopes: ['verify', 'challenge'],
      csrPem: req.csrPem,
      validDays: 90,
      approval,
    });
    expect(out.certificatePem).toMatch(/BEGIN CERTIFICATE/);
    expect(out.certificatePem).not.toMatch(/PRIVATE KEY/);
    const listed = await ask(manager, 'verifyClients:list', {});
    expect(listed.clients.find((c) => c.keyId === out.client.keyId)).toMatchObject({
      credential: 'certificate',
      certSerial: out.serial,
      certNotAfter: out.notAfter,
      scopes: ['verify', 'challenge'],
    });
    expect((await auditRows(desk.ws)).some((r) => r.action === 'keystore.client_certificate.issued')).toBe(true);
  });

  it('shows a card the service locked out and lets support clear it (audited); shows the refill as due, then queued', async () => {
    const support = await addOperator(desk.ws, 'support');
    const { card, codes } = await cardWithCodes(desk.ws);
    const status = async () => await ask(clerk, 'verification:cardStatus', { n: card.n });
    expect(await status()).toEqual({ n: card.n, failures: null, refill: 'none', remaining: 100 });
    for (let i = 0; i < 5; i++) await desk.ws.verification.verify(card.n, '000000');
    const locked = await status();
    expect(locked.failures).toMatchObject({ consecutive: 5 });
    expect(locked.failures?.lockedAt).toEqual(expect.any(String));
    // A clerk may look but not clear; clearing nothing is an error that changes nothing.
    const byClerk = await dispatch(clerk, 'verification:clearLockout', { n: card.n });
    expect(byClerk.ok ? 'CLEARED' : byClerk.error.code).toBe('FORBIDDEN');
    expect((await status()).failures?.lockedAt).not.toBeNull();
    expect(await ask(support, 'verification:clearLockout', { n: card.n })).toEqual({
      cleared: true,
    });
    expect((await status()).failures).toBeNull();
    const again = await dispatch(support, 'verification:clearLockout', { n: card.n });
    expect(again.ok ? 'CLEARED' : again.error.code).toBe('LOCKOUT_NOTHING_TO_CLEAR');
    expect(
      (await auditRows(desk.ws)).filter(
        (r) => r.action === 'verification.failures_cleared' && r.object === `card:${card.n}`,
      ),
    ).toHaveLength(1);

    // Use codes down to the refill threshold (10 left by default): verify queues the refill.
    for (let i = 0; i < 90; i++)
      expect((await desk.ws.verification.verify(card.n, codes[i] ?? '', i + 1)).accepted).toBe(true);
    const refill = await status();
    expect(refill.remaining).toBe(10);
    expect(refill.refill).toBe('queued');
  }, 60_000);
});

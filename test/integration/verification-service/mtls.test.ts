import { SqliteClientCertificateRepository } from '../../../src/core/verification/client-certificate.repository';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditService } from '../../../src/core/audit/audit.service';
import { ClientCertificateService } from '../../../src/core/verification/client-certificate.service';
import {
  SqliteVerifyClientRepository,
  type VerifyScope,
} from '../../../src/core/verification/verify-client.repository';
import { VerifyClientService } from '../../../src/core/verification/verify-client.service';
import { buildVerifyApp } from '../../../src/verify-service/app';
import { openVerificationCore, SERVICE_ACTOR, type VerificationCore } from '../../../src/verify-service/service-core';
import { clientCertificateRequest } from '../../support/client-certificates';
import { KEYSTORE_PASSPHRASE } from '../../support/keys';
import {
  cardWithCodes,
  clientKey,
  deskWithKeystore,
  startServiceProcess,
  type Desk,
} from '../../support/verify-service';

// Mutual TLS (issue 10 item 1): the service asks for a client certificate and trusts the bank CA the
// keystore holds; a certificate the desk issued for a client's own key (a CSR: the private key never
// leaves the client) authenticates as that client with its scopes. Refused — with nothing changed:
// no use marked, no failure counted, no audit entry — a certificate of another CA, an expired one, a
// revoked one, and one without the scope. API keys keep working on the same port.

const OFFICER = { operatorId: 1, operator: 'sofia', role: 'security_officer' as const };

interface ClientCert {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly keyId: string;
}

describe('mutual TLS with client certificates from the bank CA', () => {
  let desk: Desk;
  let core: VerificationCore;
  let url = '';
  let close: () => Promise<void> = async () => undefined;
  let issuer: ClientCertificateService;
  const dir = mkdtempSync(join(tmpdir(), 'otac-mtls-'));
  const serverCert = join(dir, 'tls.crt');
  const serverKey = join(dir, 'tls.key');

  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'ignore'] });

  const clientRequest = clientCertificateRequest;

  const issue = async (scopes: VerifyScope[], validDays?: number): Promise<ClientCert> => {
    const req = clientRequest('online-banking');
    const issued = await issuer.issue({
      name: 'online-banking',
      scopes,
      csrPem: req.csrPem,
      actor: OFFICER,
      ...(validDays ? { validDays } : {}),
    });
    return { key: req.key, cert: Buffer.from(issued.certificatePem), keyId: issued.client.keyId };
  };

  const post = (body: unknown, client?: { key: Buffer; cert: Buffer }, apiKey?: string) =>
    new Promise<{ status: number; body: { result?: string; error?: { code: string; message: string } } }>(
      (resolve, reject) => {
        const req = request(
          `${url}/v1/verify`,
          {
            method: 'POST',
            ca: readFileSync(serverCert),
            ...(client ? { key: client.key, cert: client.cert } : {}),
            headers: {
              'content-type': 'application/json',
              ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
            },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(body));
      },
    );

  /** What a refused request must leave as it was. */
  const snapshot = () => ({
    used: desk.ws.db.prepare('SELECT * FROM code_uses ORDER BY rowid').all(),
    lists: desk.ws.db.prepare('SELECT id, used_count, state FROM code_lists ORDER BY id').all(),
    failures: desk.ws.db.prepare('SELECT * FROM verification_failures').all(),
    audit: desk.ws.db.prepare('SELECT count(*) AS c FROM audit_log').get(),
  });

  beforeAll(async () => {
    desk = await deskWithKeystore();
    issuer = new ClientCertificateService(
      new SqliteClientCertificateRepository(desk.ws.db),
      desk.ws.keystore,
      new AuditService(desk.ws.db),
    );
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      serverKey,
      '-out',
      serverCert,
    );
    chmodSync(serverKey, 0o600);
    core = openVerificationCore({
      dataDir: desk.dataDir,
      keystore: { backend: 'software', file: `${desk.dataDir}/keystore/keystore.otacks` },
    });
    await core.keystore.unlock(KEYSTORE_PASSPHRASE, SERVICE_ACTOR);
    const { app } = buildVerifyApp({
      verification: core.verification,
      clients: core.clients,
      certificates: core.certificates,
      durable: core.durable,
      ready: () => ({ keystore: true, database: true }),
      log: core.log,
      version: 'test',
      rateLimit: { burst: 10_000, perSecond: 10_000 },
      https: {
        key: readFileSync(serverKey),
        cert: readFileSync(serverCert),
        ca: Buffer.from(await core.keystore.current().caCertificatePem()),
      },
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    close = async () => {
      await app.close();
      await core.close();
    };
  }, 60_000);
  afterAll(async () => {
    await close();
    await desk?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('issues a clientAuth certificate from the bank CA for the public key of a CSR, and verifies with it', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const client = await issue(['verify']);
    // The certificate chains to the bank CA (openssl, not our code, says so) and is for TLS clients.
    const caFile = join(dir, 'bank-ca.pem');
    writeFileSync(caFile, await desk.ws.keystore.current().caCertificatePem());
    const certFile = join(dir, 'client.pem');
    writeFileSync(certFile, client.cert);
    expect(openssl('verify', '-CAfile', caFile, '-purpose', 'sslclient', certFile).toString()).toMatch(/OK/);
    // Nothing private came back: a certificate only.
    expect(client.cert.toString()).not.toMatch(/PRIVATE KEY/);
    expect(await post({ n: card.n, code: codes[0], index: 1 }, client)).toEqual({
      status: 200,
      body: { result: 'accepted', index: 1, remaining: 99, refillQueued: false },
    });
  });

  it('refuses a certificate of another CA, an expired, a revoked and an out-of-scope one, with nothing changed', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const good = await issue(['verify']);
    const body = { n: card.n, code: codes[0], index: 1 };

    // Another CA: a CA of the attacker's own signs a certificate for the attacker's key.
    const evilKey = join(dir, 'evil-ca.key');
    const evilCa = join(dir, 'evil-ca.pem');
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=Bank CA',
      '-days',
      '2',
      '-keyout',
      evilKey,
      '-out',
      evilCa,
    );
    const req = clientRequest('intruder');
    const csrFile = join(dir, 'intruder.csr');
    writeFileSync(csrFile, req.csrPem);
    const evilCert = openssl('x509', '-req', '-in', csrFile, '-CA', evilCa, '-CAkey', evilKey, '-days', '1');
    // Expired: the bank CA signed it, for one year, two years ago.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(Date.now() - 2 * 365 * 86_400_000));
    let expired: ClientCert;
    try {
      expired = await issue(['verify'], 365);
    } finally {
      vi.useRealTimers();
    }
    // Revoked at the desk after it was issued.
    const revoked = await issue(['verify']);
    await core.clients.revoke(revoked.keyId, 'test');
    // Only "read".
    const reader = await issue(['read']);

    const apiKey = await clientKey(desk.ws.db, 'verify');
    const before = snapshot();
    const refusals = [
      { who: 'another CA', client: { key: req.key, cert: evilCert }, status: 401, code: 'BAD_CLIENT_CERTIFICATE' },
      { who: 'expired', client: expired, status: 401, code: 'BAD_CLIENT_CERTIFICATE' },
      { who: 'revoked', client: revoked, status: 401, code: 'BAD_CLIENT_CERTIFICATE' },
      { who: 'no verify scope', client: reader, status: 403, code: 'SCOPE_MISSING' },
    ];
    for (const r of refusals) {
      const answer = await post(body, r.client);
      expect({ who: r.who, status: answer.status, code: answer.body.error?.code }).toEqual({
        who: r.who,
        status: r.status,
        code: r.code,
      });
    }
    expect((await post(body, { key: req.key, cert: evilCert })).body.error?.message).toMatch(/bank's CA/);
    expect((await post(body, expired)).body.error?.message).toMatch(/expired/);
    // A refused certificate is not rescued by a valid API key sent with it.
    const mixed = await post(body, expired, apiKey);
    expect(mixed.status).toBe(401);
    expect(snapshot()).toEqual(before);
    // The code the refused requests carried is still good.
    expect((await post(body, good)).body.result).toBe('accepted');
  });

  it('still takes an API key without a certificate on the mutual-TLS port', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const apiKey = await clientKey(desk.ws.db, 'verify');
    expect((await post({ n: card.n, code: codes[0], index: 1 }, undefined, apiKey)).body.result).toBe('accepted');
    expect((await post({ n: card.n, code: codes[1], index: 2 })).status).toBe(401);
  });

  it('refuses a request that is not a CSR, or whose signature does not match its key, and issues nothing', async () => {
    const count = () => desk.ws.db.prepare('SELECT count(*) AS c FROM verify_clients').get();
    const before = count();
    const req = clientRequest('bank');
    const tampered = req.csrPem.replace(/CN=|[A-Za-z0-9+/]{10}(?=\n)/, (m) => m.split('').reverse().join(''));
    for (const csrPem of ['hello', tampered])
      await expect(issuer.issue({ name: 'x', scopes: ['verify'], csrPem, actor: OFFICER })).rejects.toMatchObject({
        code: 'CSR_INVALID',
      });
    expect(count()).toEqual(before);
  });
  it('npm run serve:verify trusts the keystore bank CA for client certificates by itself', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const client = await issue(['verify']);
    // One service per data directory: the in-process one of the other tests steps aside (this test runs last).
    await close();
    close = async () => undefined;
    const svc = await startServiceProcess(desk.dataDir, {
      OTAC_VERIFY_TLS_CERT: serverCert,
      OTAC_VERIFY_TLS_KEY: serverKey,
    });
    const inProcess = url;
    try {
      url = svc.url;
      expect((await post({ n: card.n, code: codes[0], index: 1 }, client)).body.result).toBe('accepted');
      const revoked = await issue(['verify']);
      await new VerifyClientService(new SqliteVerifyClientRepository(desk.ws.db), new AuditService(desk.ws.db)).revoke(
        revoked.keyId,
        'desk',
      );
      expect((await post({ n: card.n, code: codes[1], index: 2 }, revoked)).body.error?.code).toBe(
        'BAD_CLIENT_CERTIFICATE',
      );
    } finally {
      url = inProcess;
      expect(await svc.stop()).toBe(0);
    }
  }, 60_000);
});

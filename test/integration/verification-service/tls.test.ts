import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/verify-service/verify-server';
import {
  call,
  cardWithCodes,
  clientKey,
  deskWithKeystore,
  startServiceProcess,
  type Desk,
} from '../../support/verify-service';

// TLS and the start-up rules of `npm run serve:verify`: off loopback only with TLS, a TLS key file
// others can read is refused, and over TLS a code is verified like over loopback HTTP.

describe('serve:verify with TLS, and its start-up refusals', () => {
  let desk: Desk;
  const dir = mkdtempSync(join(tmpdir(), 'otac-tls-'));
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');

  beforeAll(async () => {
    desk = await deskWithKeystore();
    execFileSync(
      'openssl',
      [
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
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    chmodSync(key, 0o600);
  });
  afterAll(async () => {
    await desk?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to listen off loopback without TLS, and a TLS key others can read', async () => {
    await expect(main({ OTAC_DATA_DIR: desk.dataDir, OTAC_VERIFY_HOST: '0.0.0.0' })).rejects.toThrow(/needs TLS/);
    await expect(main({ OTAC_DATA_DIR: desk.dataDir, OTAC_VERIFY_TLS_CERT: cert })).rejects.toThrow(/both/);
    chmodSync(key, 0o644);
    await expect(
      main({ OTAC_DATA_DIR: desk.dataDir, OTAC_VERIFY_TLS_CERT: cert, OTAC_VERIFY_TLS_KEY: key }),
    ).rejects.toThrow(/can be read by other users/);
    chmodSync(key, 0o600);
    // Nothing was started: no service lock was left behind.
    await expect(main({ OTAC_DATA_DIR: desk.dataDir })).rejects.toThrow(/keystore passphrase/);
  });

  it('verifies over TLS, trusting the service certificate', async () => {
    const { card, codes } = await cardWithCodes(desk.ws);
    const apiKey = await clientKey(desk.ws.db, 'verify');
    const svc = await startServiceProcess(desk.dataDir, { OTAC_VERIFY_TLS_CERT: cert, OTAC_VERIFY_TLS_KEY: key });
    try {
      expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const body = JSON.stringify({ n: card.n, code: codes[0], index: 1 });
      const answer = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const req = request(
          `${svc.url}/v1/verify`,
          {
            method: 'POST',
            ca: readFileSync(cert),
            headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(answer).toEqual({
        status: 200,
        body: { result: 'accepted', index: 1, remaining: 99, refillQueued: false },
      });
      // Plain HTTP to the TLS port gets no answer that could carry a code.
      await expect(call(svc.url.replace('https', 'http'), '/health')).rejects.toThrow();
    } finally {
      expect(await svc.stop()).toBe(0);
    }
  }, 60_000);
});

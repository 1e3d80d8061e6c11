import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCertificateRequest } from '../../../src/core/crypto/csr';

// The certificate request reader behind client certificates (docs/verification-service.md): requests
// openssl makes (EC and RSA) give openssl's own public key and CN; a request whose signature does not
// match its key, or anything that is not a request, is refused.

const dir = mkdtempSync(join(tmpdir(), 'otac-csr-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function request(keyArgs: string[], cn: string): { csrPem: string; publicPem: string } {
  const key = join(dir, `${cn}.key`);
  const csrPem = execFileSync(
    'openssl',
    ['req', '-new', ...keyArgs, '-nodes', '-subj', `/O=Bank/CN=${cn}`, '-keyout', key],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  ).toString();
  const publicPem = execFileSync('openssl', ['pkey', '-in', key, '-pubout'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  return { csrPem, publicPem };
}

const spkiOf = (pem: string) => createPublicKey(pem).export({ format: 'der', type: 'spki' });

describe('readCertificateRequest', () => {
  it.each([
    ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'ec-client'],
    ['EC P-384 (SHA-384)', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'], 'ec384-client'],
    ['RSA 2048', ['-newkey', 'rsa:2048'], 'rsa-client'],
  ])('reads an openssl %s request: its public key and CN', (_what, args, cn) => {
    const { csrPem, publicPem } = request(args, cn);
    const info = readCertificateRequest(csrPem);
    expect(info.spkiDer.equals(spkiOf(publicPem))).toBe(true);
    expect(info.commonName).toBe(cn);
  });

  it('refuses a request whose signed part was changed, one with another key put in, and what is not a request', () => {
    const a = request(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'a-client');
    const b = request(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'b-client');
    const der = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const pem = (d: Buffer) =>
      `-----BEGIN CERTIFICATE REQUEST-----\n${d.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    // The CN "a-client" becomes "x-client": the signature no longer matches.
    const changed = der(a.csrPem);
    const at = changed.indexOf(Buffer.from('a-client'));
    expect(at).toBeGreaterThan(0);
    changed[at] = 'x'.charCodeAt(0);
    // b's public key in a's request (same length), a's signature kept.
    const swapped = der(a.csrPem);
    const aKey = spkiOf(a.publicPem);
    swapped.set(spkiOf(b.publicPem), swapped.indexOf(aKey));
    for (const bad of [pem(changed), pem(swapped), 'hello', a.publicPem, pem(Buffer.from([0x30, 0x03, 1, 2, 3]))])
      expect(() => readCertificateRequest(bad)).toThrow(expect.objectContaining({ code: 'CSR_INVALID' }));
    // Control: the untouched request reads.
    expect(readCertificateRequest(pem(der(a.csrPem))).commonName).toBe('a-client');
  });
});

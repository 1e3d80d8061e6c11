import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What a bank's system does to get a client certificate of the verification service: its own P-256
 * key pair and a PKCS#10 request for it, made by openssl (not our code). The key stays with the caller.
 */
export function clientCertificateRequest(commonName = 'online-banking'): { key: Buffer; csrPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'otac-csr-'));
  try {
    const key = join(dir, 'client.key');
    const csr = join(dir, 'client.csr');
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        `/CN=${commonName}`,
        '-keyout',
        key,
        '-out',
        csr,
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(key), csrPem: readFileSync(csr, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

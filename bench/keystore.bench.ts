import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as forge from 'node-forge';
import { cardKeyKdfInput } from '../src/core/keystore/card-key-derivation';
import { PassphraseKekProvider } from '../src/core/keystore/kek-provider';
import type { KeystoreBackend } from '../src/core/keystore/keystore-backend';
import { Pkcs11Backend } from '../src/core/keystore/pkcs11.backend';
import { SoftwareBackend } from '../src/core/keystore/software.backend';

// Keystore throughput, each figure beside a baseline measured in the same run:
// card-key derivations and CMACs on the software vs the PKCS#11 (SoftHSM) backend, and
// RSA-2048 OAEP (SHA-1) encrypt/decrypt with node:crypto vs node-forge. About 3 s in all.

type Report = (name: string, value: number, unit: string) => void;
const SLICE_MS = 250;
const SOFTHSM_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';

function opsPerSecond(fn: (i: number) => void, ms = SLICE_MS): number {
  for (let i = 0; i < 20; i++) fn(i); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let j = 0; j < 16; j++) fn(n++);
    now = process.hrtime.bigint();
  }
  return Math.round(n / (Number(now - start) / 1e9));
}

function measureBackend(b: KeystoreBackend): { derive: number; mac: number } {
  const mk = b.generateAes(32, { persistent: false, extractable: false });
  const derive = opsPerSecond((i) =>
    b.destroy(b.deriveAes(mk, cardKeyKdfInput(`N-${i}`, 1), { persistent: false, extractable: true })),
  );
  const card = b.deriveAes(mk, cardKeyKdfInput('N-BENCH', 1), { persistent: false, extractable: true });
  const msg = randomBytes(64);
  const mac = opsPerSecond(() => b.cmac(card, msg));
  return { derive, mac };
}

function ratio(report: Report, name: string, value: number, baseline: number): void {
  report(name, Math.round((value / baseline) * 1000) / 1000, 'x');
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'otac-bench-keystore-'));
  try {
    const sw = new SoftwareBackend({
      file: join(dir, 'bench.otacks'),
      kek: new PassphraseKekProvider('bench passphrase', { N: 2 ** 12, r: 8, p: 1 }),
      createIfMissing: true,
    });
    await sw.open();
    const soft = measureBackend(sw);
    await sw.close();
    report('keystore.derive.software', soft.derive, 'ops/s');
    report('keystore.mac.software', soft.mac, 'ops/s');

    const hsm = await openSoftHsm(dir);
    if (hsm) {
      const p = measureBackend(hsm);
      await hsm.close();
      report('keystore.derive.pkcs11', p.derive, 'ops/s');
      ratio(report, 'keystore.derive.pkcs11.ratio_vs_software', p.derive, soft.derive);
      report('keystore.mac.pkcs11', p.mac, 'ops/s');
      ratio(report, 'keystore.mac.pkcs11.ratio_vs_software', p.mac, soft.mac);
    }

    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const fPub = forge.pki.publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const fPriv = forge.pki.privateKeyFromPem(privateKey.export({ format: 'pem', type: 'pkcs1' }).toString());
    const sessionKey = randomBytes(16);
    const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' };
    const nodeEnc = opsPerSecond(() => publicEncrypt({ key: publicKey, ...oaep }, sessionKey));
    const forgeEnc = opsPerSecond(() => fPub.encrypt(sessionKey.toString('binary'), 'RSA-OAEP'));
    const ct = publicEncrypt({ key: publicKey, ...oaep }, sessionKey);
    const nodeDec = opsPerSecond(() => privateDecrypt({ key: privateKey, ...oaep }, ct));
    const forgeDec = opsPerSecond(() => fPriv.decrypt(ct.toString('binary'), 'RSA-OAEP'), 600);
    report('rsa_oaep2048.encrypt.node', nodeEnc, 'ops/s');
    report('rsa_oaep2048.encrypt.forge', forgeEnc, 'ops/s');
    ratio(report, 'rsa_oaep2048.encrypt.forge.ratio_vs_node', forgeEnc, nodeEnc);
    report('rsa_oaep2048.decrypt.node', nodeDec, 'ops/s');
    report('rsa_oaep2048.decrypt.forge', forgeDec, 'ops/s');
    ratio(report, 'rsa_oaep2048.decrypt.forge.ratio_vs_node', forgeDec, nodeDec);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A throwaway SoftHSM token; undefined (and no PKCS#11 lines) where SoftHSM is not installed. */
async function openSoftHsm(dir: string): Promise<KeystoreBackend | undefined> {
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  try {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'otac-bench', '--so-pin', '13579111', '--pin', '246810'],
      {
        env: { ...process.env, SOFTHSM2_CONF: conf },
        stdio: 'pipe',
      },
    );
  } catch {
    return undefined;
  }
  process.env.SOFTHSM2_CONF = conf;
  const b = new Pkcs11Backend({ library: SOFTHSM_LIBRARY, tokenLabel: 'otac-bench', pin: '246810' });
  await b.open();
  return b;
}

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ecPublicPoint } from '../src/core/card/protocol/ec-keys';
import { certifyIssuerKey, RawCardKeyPort } from '../src/core/card/raw-card-key-port';
import { openDatabase } from '../src/core/db/database';
import { migration0003 } from '../src/core/db/migrations/0003-keystore.migration';
import { SqliteCardSeriesStore } from '../src/core/keystore/card-series.repository';
import { openKeystore, type KeystoreConfig } from '../src/core/keystore/create-keystore';
import { PassphraseKekProvider } from '../src/core/keystore/kek-provider';
import type { CodeListRequest, Keystore } from '../src/core/keystore/keystore.types';
import { DEFAULT_POLICIES } from '../src/core/policy/policy-values';

// Code lists generated and sealed per second (issue 9 item 5): the keystore draws the codes
// (HOTP over a secret derived from MK), signs the body with S and seals the envelope — on the
// software keystore and on PKCS#11 (SoftHSM) — beside the baseline of the same work on raw bytes
// in this process (RawCardKeyPort: no keystore, no handles), measured in the same run. Lists have
// the policy's default shape (100 codes of 6 digits). Also codes checked per second (verify's cost).

type Report = (name: string, value: number, unit: string) => void;
const SLICE_MS = 1000;
const SOFTHSM_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';
const CARD_ID = Buffer.from('0102030405060708', 'hex');

async function perSecond(fn: (i: number) => Promise<unknown>, ms = SLICE_MS): Promise<number> {
  for (let i = 0; i < 5; i++) await fn(i); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    await fn(n++);
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const request = (seq: number): CodeListRequest => ({
  cardId: CARD_ID,
  listSeq: seq + 1,
  listId: randomBytes(16),
  length: DEFAULT_POLICIES.listLength,
  digits: DEFAULT_POLICIES.codeDigits,
  expiry: 1_900_000_000,
  threshold: DEFAULT_POLICIES.refillThreshold,
});

function ratio(report: Report, name: string, value: number, baseline: number): void {
  report(name, Math.round((value / baseline) * 1000) / 1000, 'x');
}

async function measureKeystore(ks: Keystore, rsaSpki: Buffer) {
  await ks.generateMasterKey({ officer: 'bench' });
  await ks.createBankCa({ commonName: 'Bench CA', officer: 'bench' });
  await ks.createIssuerKey({ commonName: 'Bench Issuer', officer: 'bench' });
  const card = await ks.cardKey('N-BENCH-1');
  const cardKey = await perSecond(async (i) => {
    const l = await ks.issueCodeList({ mode: 'card-key', card }, request(i));
    await ks.release(l.receiptKey);
  });
  const publicKey = await perSecond(async (i) => {
    const l = await ks.issueCodeList({ mode: 'public-key', cardPublicKeySpkiDer: rsaSpki }, request(i));
    await ks.release(l.receiptKey);
  });
  const listRef = { ...request(0), mkVersion: 1, sealedFor: 'card:N-BENCH-1' };
  const check = await perSecond((i) => ks.checkListCode(listRef, (i % 100) + 1, '000000'), 500);
  return { cardKey, publicKey, check };
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'otac-bench-lists-'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = rsa.publicKey.export({ format: 'der', type: 'spki' });
  const jwk = rsa.publicKey.export({ format: 'jwk' });
  const cardPublicKey = {
    modulus: Buffer.from(jwk.n ?? '', 'base64url'),
    exponent: Buffer.from(jwk.e ?? '', 'base64url'),
  };
  try {
    // Baseline: the same list made, signed and sealed over raw bytes in this process.
    const raw = new RawCardKeyPort();
    const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issuer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issuerKey = raw.importIssuerKey(
      issuer.privateKey,
      certifyIssuerKey(ca.privateKey, ecPublicPoint(issuer.publicKey)),
    );
    const cardKey = raw.importAesKey(randomBytes(16));
    const spec = (i: number) => {
      const r = request(i);
      return { ...r, cardId: CARD_ID, listId: Buffer.from(r.listId) };
    };
    const baseCard = await perSecond(async (i) => {
      raw.forget((await raw.issueList(issuerKey, spec(i), { mode: 'card-key', cardKey, keyVersion: 1 })).receiptKey);
    });
    const basePk = await perSecond(async (i) => {
      raw.forget((await raw.issueList(issuerKey, spec(i), { mode: 'public-key', cardPublicKey })).receiptKey);
    });
    report('lists.sealed.card_key.raw_baseline', baseCard, 'lists/s');
    report('lists.sealed.public_key.raw_baseline', basePk, 'lists/s');

    const db = openDatabase(join(dir, 'workstation.db'), []);
    db.transaction(() => migration0003.up(db))();
    const deps = { cardSeries: new SqliteCardSeriesStore(db), audit: () => undefined };
    const configs: [string, KeystoreConfig | undefined][] = [
      [
        'software',
        {
          backend: 'software',
          file: join(dir, 'bench.otacks'),
          kek: new PassphraseKekProvider('bench passphrase', { N: 2 ** 12, r: 8, p: 1 }),
          createIfMissing: true,
        },
      ],
      ['pkcs11', softHsm(dir)],
    ];
    for (const [name, config] of configs) {
      if (!config) continue;
      const ks = await openKeystore(config, deps);
      try {
        const m = await measureKeystore(ks, spki);
        report(`lists.sealed.card_key.${name}`, m.cardKey, 'lists/s');
        ratio(report, `lists.sealed.card_key.${name}.ratio_vs_raw`, m.cardKey, baseCard);
        report(`lists.sealed.public_key.${name}`, m.publicKey, 'lists/s');
        ratio(report, `lists.sealed.public_key.${name}.ratio_vs_raw`, m.publicKey, basePk);
        report(`lists.code_checked.${name}`, m.check, 'checks/s');
      } finally {
        await ks.close();
      }
    }
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function softHsm(dir: string): KeystoreConfig | undefined {
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  try {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'otac-bench-lists', '--so-pin', '13579111', '--pin', '246810'],
      { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' },
    );
  } catch {
    return undefined;
  }
  process.env.SOFTHSM2_CONF = conf;
  return { backend: 'pkcs11', library: SOFTHSM_LIBRARY, tokenLabel: 'otac-bench-lists', pin: '246810' };
}

import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CardStore, cardDirFromEnv } from '../../../src/card-sim/card-store';
import { buildAtr, cardIdFromAtr, parseCardRecord } from '../../../src/card-sim/card-record';
import { VirtualCard } from '../../../src/card-sim/virtual-card';
import { AppError } from '../../../src/core/errors';
import { makeFixture, PIN } from '../card/support/in-process-card';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'otac-cards-'));

describe('card stock', () => {
  it('creates blank cards with unique ids and OTAC ATRs, and lists them', () => {
    const store = new CardStore(tempDir());
    const cards = store.create(5);
    expect(new Set(cards.map((c) => c.cardId)).size).toBe(5);
    expect(
      store
        .list()
        .map((c) => c.cardId)
        .sort(),
    ).toEqual(cards.map((c) => c.cardId).sort());
    for (const c of cards) {
      expect(c.lifeCycle).toBe('blank');
      expect(cardIdFromAtr(Buffer.from(c.atrHex, 'hex'))?.toString('hex')).toBe(c.cardId);
    }
    expect(() => store.create(0)).toThrow(AppError);
  });

  it('builds a well-formed ATR: T0 says 15 historical bytes, TCK makes the XOR zero', () => {
    const atr = buildAtr(Buffer.from('0102030405060708', 'hex'));
    expect(atr.toString('hex')).toMatch(/^3b8f8001805d4f54414301/);
    expect(atr.subarray(1).reduce((x, b) => x ^ b, 0)).toBe(0);
  });

  it('resolves a card by id prefix and explains what to do when it cannot', () => {
    const store = new CardStore(tempDir());
    const [a] = store.create(1);
    expect(store.resolve((a?.cardId ?? '').slice(0, 6))).toBe(store.pathOf(a?.cardId ?? ''));
    expect(() => store.resolve('zz')).toThrow(/npm run card -- list/);
  });

  it('takes its directory from OTAC_CARD_DIR, default .data/cards', () => {
    expect(cardDirFromEnv({ OTAC_CARD_DIR: '/tmp/x' })).toBe('/tmp/x');
    expect(cardDirFromEnv({})).toMatch(/\.data\/cards$/);
  });

  it('rejects a file that is not a card', () => {
    expect(() => parseCardRecord('{"format":"x"}', 'f.json')).toThrow(/not an OTAC virtual card/);
    expect(() => parseCardRecord('{', 'f.json')).toThrow(/not valid JSON/);
  });

  it('a writer killed with SIGKILL mid-stream leaves a whole card file, never half of one', async () => {
    const dir = tempDir();
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'support/store-writer.ts'), dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 50 + round * 40));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const rec = parseCardRecord(readFileSync(join(dir, '00000000000000aa.json'), 'utf8'), 'card');
      expect(rec.counters.codesIssued).toBeGreaterThan(0);
      expect(rec.list?.listSeq).toBe(rec.counters.codesIssued);
    }
    // Leftover temp files are not cards and do not show up in the stock.
    expect(new CardStore(dir).list().map((c) => c.cardId)).toEqual(['00000000000000aa']);
    expect(readdirSync(dir).every((f) => f === '00000000000000aa.json' || f.endsWith('.tmp'))).toBe(true);
  }, 30_000);
});

describe('virtual card persistence', () => {
  it('a card in the drawer keeps its list, used marks and counters; the staged list is gone', async () => {
    const store = new CardStore(tempDir());
    const [blank] = store.create(1);
    if (!blank) throw new Error('no card');
    const fx = makeFixture(blank);
    const card = new VirtualCard(blank, { persist: (r) => store.save(r) });
    fx.transport.card = card;
    card.powerOn();
    await fx.activate();
    await fx.host.loadList((await fx.prepare(1, 10)).envelope);
    await fx.host.verifyPin(PIN);
    await fx.host.nextCode();
    await fx.host.codeByIndex(5);
    const second = await fx.prepare(2, 10);
    await fx.host.select();
    card.process(
      Buffer.concat([
        Buffer.from([0x80, 0x52, 0, 0, 0, second.envelope.length >> 8, second.envelope.length & 0xff]),
        second.envelope,
      ]),
    );
    card.powerOff();

    const again = new VirtualCard(store.loadFile(store.pathOf(blank.cardId)), { persist: (r) => store.save(r) });
    fx.transport.card = again;
    again.powerOn();
    await fx.host.select();
    const s = await fx.host.getState();
    expect(s).toMatchObject({
      lifeCycle: 'active',
      list: { listSeq: 1, remaining: 8 },
      counters: { codesIssued: 2, codesByIndex: 1 },
    });
    expect(again.process(Buffer.from('8054000000', 'hex')).toString('hex')).toBe('6985'); // nothing staged
    await fx.host.verifyPin(PIN);
    expect((await fx.host.nextCode()).index).toBe(2);
  });

  it('if persisting fails, the card answers 6F00 and keeps its previous state', async () => {
    const fx = makeFixture();
    await fx.activate();
    let failing = false;
    const card = new VirtualCard(fx.card.record, {
      persist: () => {
        if (failing) throw new Error('disk full');
      },
    });
    fx.transport.card = card;
    card.powerOn();
    await fx.host.select();
    failing = true;
    await expect(fx.host.verifyPin('0000')).rejects.toMatchObject({ sw: 0x6f00 });
    expect(card.record.pinTriesLeft).toBe(3);
    failing = false;
    expect((await fx.host.getState()).pinTriesLeft).toBe(3);
  });
});

describe('card file content', () => {
  it('is the only place secrets live; writing it twice is byte-identical', () => {
    const dir = tempDir();
    const store = new CardStore(dir);
    const [c] = store.create(1);
    if (!c) throw new Error('no card');
    const before = readFileSync(store.pathOf(c.cardId));
    store.save(store.loadFile(store.pathOf(c.cardId)));
    expect(readFileSync(store.pathOf(c.cardId))).toEqual(before);
    writeFileSync(join(dir, 'notes.txt'), 'x');
    expect(store.list()).toHaveLength(1);
  });
});

import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCardCli } from '../../../src/card-sim/card-cli';
import { CardStore } from '../../../src/card-sim/card-store';
import { VirtualCard } from '../../../src/card-sim/virtual-card';
import { makeFixture, PIN } from '../card/support/in-process-card';

function capture() {
  const lines: string[] = [];
  return { io: { out: (l: string) => lines.push(l) }, text: () => lines.join('\n') };
}

describe('card CLI', () => {
  it('create --count, list and show', async () => {
    const store = new CardStore(mkdtempSync(join(tmpdir(), 'otac-cli-')));
    const c = capture();
    expect(await runCardCli(['create', '--count', '3'], c.io, store)).toBe(0);
    expect(store.list()).toHaveLength(3);
    const l = capture();
    await runCardCli(['list'], l.io, store);
    expect(l.text().split('\n')).toHaveLength(3);
    expect(l.text()).toMatch(/blank/);
    const id = store.list()[0]?.cardId ?? '';
    const s = capture();
    await runCardCli(['show', id.slice(0, 8)], s.io, store);
    expect(JSON.parse(s.text())).toMatchObject({ cardId: id, lifeCycle: 'blank', list: null });
  });

  it('show never prints a key, the PIN or a code', async () => {
    const store = new CardStore(mkdtempSync(join(tmpdir(), 'otac-cli-')));
    const [blank] = store.create(1);
    if (!blank) throw new Error('no card');
    const fx = makeFixture(blank);
    const card = new VirtualCard(blank, { persist: (r) => store.save(r) });
    fx.transport.card = card;
    card.powerOn();
    await fx.activate();
    await fx.host.loadList((await fx.prepare(1, 10)).envelope);
    const rec = store.loadFile(store.pathOf(blank.cardId));
    const out = capture();
    await runCardCli(['show', blank.cardId], out.io, store);
    const text = out.text();
    expect(JSON.parse(text)).toMatchObject({
      lifeCycle: 'active',
      n: 'N-4711-0815',
      list: { entries: 10, remaining: 10 },
    });
    const secrets = [
      rec.cardKey,
      rec.pin,
      PIN,
      fx.kBytes.toString('hex'),
      rec.list?.receiptKey,
      ...(rec.list?.entries.map((e) => e.code) ?? []),
    ];
    for (const secret of secrets) expect(text).not.toContain(secret ?? '§never§');
  });

  it('prints usage for an unknown command and fails with a hint for a missing card', async () => {
    const store = new CardStore(mkdtempSync(join(tmpdir(), 'otac-cli-')));
    const u = capture();
    expect(await runCardCli(['frobnicate'], u.io, store)).toBe(2);
    expect(u.text()).toMatch(/usage: npm run card/);
    await expect(runCardCli(['show', 'abc'], capture().io, store)).rejects.toThrow(/npm run card -- list/);
    await expect(runCardCli(['create', '--count', 'x'], capture().io, store)).rejects.toThrow(/whole number/);
  });
});

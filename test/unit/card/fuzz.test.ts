import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors';
import { decodeCommand, parseResponse } from '../../../src/core/card/apdu.codec';
import { decodeTlvs } from '../../../src/core/card/tlv.codec';
import {
  parseCardState,
  parseCodeChallengeResponse,
  parseIssuedCode,
  parseKeyPairResponse,
  parseListReceipt,
  parseOpenSession,
  parseSelectResponse,
} from '../../../src/core/card/protocol/card-responses';
import { parseEnvelope } from '../../../src/core/card/protocol/list-envelope';
import { decodeListBody, decodeSignedList, encodeListBody } from '../../../src/core/card/protocol/list-format';
import { OtacCard } from '../../../src/core/card/protocol/card-session';
import { makeFixture, PIN, entries } from './support/in-process-card';

// Random and mutated inputs at every parser of card data: each must either parse or throw an
// AppError (CardError); a TypeError/RangeError from a parser is a bug. Seeded, so reproducible.

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

function mutator(rand: () => number) {
  const int = (n: number): number => Math.floor(rand() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  return (sample: Buffer): Buffer => {
    const b = Buffer.from(sample);
    switch (int(7)) {
      case 0:
        return bytes(int(64));
      case 1: {
        if (b.length) {
          const i = int(b.length);
          b[i] = (b[i] ?? 0) ^ (1 << int(8));
        }
        return b;
      }
      case 2:
        return b.subarray(0, int(b.length + 1));
      case 3:
        return Buffer.concat([b, bytes(1 + int(8))]);
      case 4: {
        const i = int(b.length + 1);
        return Buffer.concat([b.subarray(0, i), bytes(1 + int(4)), b.subarray(i)]);
      }
      case 5: {
        for (let k = 0; k < 1 + int(6); k++) if (b.length) b[int(b.length)] = int(256);
        return b;
      }
      default: {
        if (b.length) b[int(b.length)] = [0x00, 0x7f, 0x80, 0x81, 0x82, 0xff][int(6)] ?? 0;
        return b;
      }
    }
  };
}

/** Real responses and data from a complete card flow, to mutate. */
async function samples() {
  const fx = makeFixture();
  await fx.activate();
  const list = await fx.prepare(1, 10);
  const receipt = await fx.host.loadList(list.envelope);
  await fx.host.verifyPin(PIN);
  const responses: Buffer[] = [];
  fx.transport.intercept = (c, fwd) => {
    const r = fwd(c);
    responses.push(r);
    return r;
  };
  await fx.host.select();
  const selectData = parseResponse(responses[responses.length - 1] as Buffer).data;
  await fx.host.getState();
  const stateData = parseResponse(responses[responses.length - 1] as Buffer).data;
  await fx.host.verifyPin(PIN);
  await fx.host.nextCode();
  const codeData = parseResponse(responses[responses.length - 1] as Buffer).data;
  await fx.host.challengeWithCode(Buffer.from('0102', 'hex'));
  const crData = parseResponse(responses[responses.length - 1] as Buffer).data;
  await fx.host.openSecureChannel(fx.port, fx.cardKey, 1);
  const openData = parseResponse(responses[responses.length - 1] as Buffer).data;
  fx.transport.intercept = undefined;
  const body = encodeListBody({
    cardId: fx.cardId,
    listSeq: 1,
    listId: Buffer.alloc(16, 7),
    expiry: 1,
    threshold: 1,
    codeLength: 6,
    entries: entries(5),
  });
  const receiptData = Buffer.concat([Buffer.from([0, 0, 0, receipt.listSeq]), receipt.mac]);
  return {
    fx,
    responses,
    selectData,
    stateData,
    codeData,
    crData,
    openData,
    receiptData,
    envelope: list.envelope,
    body,
  };
}

function expectTyped(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof AppError)) throw new Error(`untyped ${(e as Error).name}: ${(e as Error).message}`);
  }
}

describe('fuzz: card data parsers', () => {
  it('100,000+ random and mutated inputs: every failure is a typed AppError', async () => {
    const s = await samples();
    const rand = prng(0x5eed);
    const mutate = mutator(rand);
    const keyPair = Buffer.concat([Buffer.alloc(256, 0xc5), Buffer.from('010001', 'hex')]);
    const targets: Array<[Buffer, (b: Buffer) => unknown]> = [
      [s.responses[0] ?? Buffer.alloc(2), parseResponse],
      [Buffer.from('80520000000003aabbcc0000', 'hex'), decodeCommand],
      [s.stateData, decodeTlvs],
      [s.selectData, parseSelectResponse],
      [s.stateData, parseCardState],
      [s.codeData, parseIssuedCode],
      [s.crData, parseCodeChallengeResponse],
      [s.receiptData, parseListReceipt],
      [s.openData, parseOpenSession],
      [keyPair, parseKeyPairResponse],
      [s.envelope, parseEnvelope],
      [s.body, decodeListBody],
      [
        Buffer.concat([Buffer.from([0, s.body.length]), s.body, Buffer.alloc(65, 4), Buffer.from([1, 0x30, 1, 0x30])]),
        decodeSignedList,
      ],
    ];
    let runs = 0;
    let failures = 0;
    for (let round = 0; round < 8000; round++) {
      for (const [sample, parse] of targets) {
        const input = mutate(sample);
        try {
          parse(input);
        } catch (e) {
          failures++;
          if (!(e instanceof AppError))
            throw new Error(`${parse.name} threw ${(e as Error).name} on ${input.toString('hex')}`);
        }
        runs++;
      }
    }
    expect(runs).toBeGreaterThanOrEqual(100_000);
    expect(failures).toBeGreaterThan(runs / 4); // the mutations really do break things
    expectTyped(() => parseResponse(undefined as unknown as Buffer));
  });

  it('the host protocol turns 10,000 corrupted card answers into typed errors', async () => {
    const s = await samples();
    const rand = prng(0xc0ffee);
    const mutate = mutator(rand);
    const pool = s.responses;
    let corrupt = true;
    const host = new OtacCard({
      transmit: async () =>
        corrupt ? mutate(pool[Math.floor(rand() * pool.length)] ?? Buffer.alloc(0)) : Buffer.from('9000', 'hex'),
    });
    const calls: Array<() => Promise<unknown>> = [
      () => host.select(),
      () => host.getState(),
      () => host.nextCode(),
      () => host.codeByIndex(3),
      () => host.challengeWithCode(Buffer.from('01', 'hex')),
      () => host.challengeWithCardKey(Buffer.from('01', 'hex')),
      () => host.getReceipt(),
      () => host.verifyPin(PIN),
      () => host.pinTriesLeft(),
      () => host.loadList(Buffer.alloc(40, 1)),
      () => host.openSecureChannel(s.fx.port, s.fx.cardKey, 1).then((sc) => sc.readState()),
    ];
    let typed = 0;
    for (let i = 0; i < 10_000; i++) {
      corrupt = true;
      try {
        await (calls[i % calls.length] as () => Promise<unknown>)();
      } catch (e) {
        if (!(e instanceof AppError)) throw new Error(`untyped ${(e as Error).name}: ${(e as Error).message}`);
        typed++;
      }
    }
    expect(typed).toBeGreaterThan(9_000);
  });

  it('the virtual card answers 20,000 garbage commands with a status word and never throws', async () => {
    const fx = makeFixture();
    await fx.activate();
    await fx.host.loadList((await fx.prepare(1, 10)).envelope);
    const rand = prng(42);
    const mutate = mutator(rand);
    const seeds = fx.transport.sent;
    for (let i = 0; i < 20_000; i++) {
      const r = fx.card.process(mutate(seeds[i % seeds.length] as Buffer));
      expect(r.length).toBeGreaterThanOrEqual(2);
    }
    // Still a working card afterwards (state may have changed; the card must still answer SELECT).
    fx.card.reset();
    expect((await fx.host.select()).cardId).toBe(fx.cardId.toString('hex'));
  });
});

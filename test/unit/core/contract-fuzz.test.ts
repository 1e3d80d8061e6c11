import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { contract, type ChannelDef } from '../../../src/shared/contract';
import { freshSqliteWorkstation, OFFICER } from '../../support/fresh-workstation';

// Malformed payloads to every channel, signed in and not: each must come back as a
// validation error value, and the database must not change by a single row.

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomJson(rand: () => number, depth = 0): unknown {
  const pick = Math.floor(rand() * (depth > 2 ? 6 : 9));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return Math.floor((rand() - 0.5) * 2 ** 40) / (rand() < 0.3 ? 7 : 1);
    case 3:
      return 'x'.repeat(Math.floor(rand() * 20));
    case 4:
      return '\u0000<script>'.repeat(Math.floor(rand() * 300));
    case 5:
      return '';
    case 6:
      return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(rand, depth + 1));
    default: {
      const keys = ['username', 'password', 'page', 'id', 'role', '__proto__', 'constructor', 'approval', 'x'];
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rand() * 4); i > 0; i--)
        o[keys[Math.floor(rand() * keys.length)]!] = randomJson(rand, depth + 1);
      return o;
    }
  }
}

const WRONG_VALUES: unknown[] = [
  12345,
  -1.5,
  'x',
  '',
  true,
  {},
  [],
  [[['deep']]],
  'y'.repeat(5000),
  { nested: { a: 1 } },
];

/** Per field of an object schema: payloads with that field set to something its schema refuses. */
function fieldMutations(schema: z.ZodType): unknown[] {
  if (!(schema instanceof z.ZodObject)) return [];
  const object = schema as z.ZodObject<Record<string, z.ZodType>>;
  const out: unknown[] = [];
  for (const [key, field] of Object.entries(object.shape)) {
    for (const bad of WRONG_VALUES) if (!field.safeParse(bad).success) out.push({ [key]: bad });
  }
  return out;
}

function snapshot(db: ReturnType<typeof freshSqliteWorkstation>['ws']['db']): string {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
    name: string;
  }[];
  return JSON.stringify(tables.map((t) => [t.name, db.prepare(`SELECT * FROM "${t.name}"`).all()]));
}

describe('contract fuzz', () => {
  const t = freshSqliteWorkstation();
  beforeAll(async () => {
    await t.ws.router.dispatch('officer', 'auth:setupFirstOfficer', OFFICER);
  });
  afterAll(() => t.dispose());

  it('every input schema refuses unknown keys (strict objects)', () => {
    for (const [name, def] of Object.entries(contract) as [string, ChannelDef][]) {
      expect(def.input.safeParse({ __unexpected: 1 }).success, name).toBe(false);
    }
  });

  it('refuses every malformed payload on every channel as a validation value, changing nothing', async () => {
    const before = snapshot(t.ws.db);
    const rand = mulberry32(20261121);
    let sent = 0;
    for (const [name, def] of Object.entries(contract) as [string, ChannelDef][]) {
      const payloads: unknown[] = [
        null,
        42,
        'text',
        true,
        [],
        [{}],
        { __unexpected: 1 },
        { username: 'a'.repeat(300_000) },
        ...fieldMutations(def.input),
      ];
      for (let i = 0; i < 150; i++) payloads.push(randomJson(rand));
      for (const payload of payloads) {
        if (def.input.safeParse(payload).success) continue; // a random payload that happens to be valid
        for (const client of ['officer', 'anonymous']) {
          const r = await t.ws.router.dispatch(client, name, payload);
          expect(r.ok, `${name} accepted ${JSON.stringify(payload)?.slice(0, 80)}`).toBe(false);
          if (!r.ok) expect(['VALIDATION', 'PAYLOAD_TOO_LARGE'], `${name}: ${r.error.code}`).toContain(r.error.code);
          sent++;
        }
      }
    }
    expect(sent).toBeGreaterThan(Object.keys(contract).length * 200);
    expect(snapshot(t.ws.db)).toBe(before);
  });

  it('refuses unknown and non-string channel names as values', async () => {
    const before = snapshot(t.ws.db);
    for (const name of ['keys:dump', '', 'auth:signIn ', '__proto__', 'constructor', 42, null, { channel: 'x' }]) {
      const r = await t.ws.router.dispatch('officer', name, {});
      expect(r).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
    }
    expect(snapshot(t.ws.db)).toBe(before);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CustomerRefTakenError,
  SqliteCustomerRepository,
  type CustomerQuery,
  type NewCustomer,
} from '../../../src/core/customers/customer.repository';
import { openDatabase, type Database } from '../../../src/core/db/database';

const person = (i: number, over: Partial<NewCustomer> = {}): NewCustomer => ({
  customerRef: `R-${String(i).padStart(3, '0')}`,
  fullName: `Person ${String(i).padStart(3, '0')}`,
  birthDate: `19${String(50 + (i % 40)).padStart(2, '0')}-01-01`,
  address: { line1: `${i} Main Street`, line2: null, postalCode: '1000', city: `City ${i % 3}`, country: 'DE' },
  email: `p${i}@example.org`,
  mobile: `+4915100000${String(i).padStart(3, '0')}`,
  branch: 'Berlin',
  ...over,
});
const by = { operator: 'clara', at: '2026-12-02T10:00:00.000Z' };
const base: Omit<CustomerQuery, 'limit' | 'offset'> = { sort: 'name', direction: 'asc' };

describe('customer repository', () => {
  let dir: string;
  let db: Database;
  let repo: SqliteCustomerRepository;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'otac-customers-'));
    db = openDatabase(join(dir, 'workstation.db'));
    repo = new SqliteCustomerRepository(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pages without overlap or gap in every sort order, empty values last', async () => {
    for (let i = 1; i <= 23; i++)
      await repo.insert(person(i, i % 5 === 0 ? { customerRef: null } : {}), {
        ...by,
        at: `2026-12-02T10:00:${String(60 - i).padStart(2, '0')}.000Z`,
      });
    for (const sort of ['name', 'birthDate', 'customerRef', 'city', 'branch', 'updatedAt'] as const) {
      for (const direction of ['asc', 'desc'] as const) {
        const seen: number[] = [];
        for (let page = 0; page < 5; page++) {
          const { total, rows } = await repo.search({ ...base, sort, direction, limit: 5, offset: page * 5 });
          expect(total).toBe(23);
          seen.push(...rows.map((r) => r.id));
        }
        expect(new Set(seen).size, `${sort} ${direction}`).toBe(23);
        if (sort === 'customerRef') {
          const { rows } = await repo.search({ ...base, sort, direction, limit: 23, offset: 0 });
          expect(
            rows.slice(-4).every((r) => r.customerRef === null),
            `${direction}: no reference sorts last`,
          ).toBe(true);
        }
      }
    }
    const desc = await repo.search({ ...base, direction: 'desc', limit: 3, offset: 0 });
    expect(desc.rows.map((r) => r.fullName)).toEqual(['Person 023', 'Person 022', 'Person 021']);
  });

  it('updates only at the expected version (compare-and-set), bumping it', async () => {
    const c = await repo.insert(person(1), by);
    const changed = { ...person(1), email: 'new@example.org' };
    const first = await repo.update(c.id, 1, changed, { ...by, at: '2026-12-02T11:00:00.000Z' });
    expect(first).toMatchObject({ version: 2, email: 'new@example.org', updatedAt: '2026-12-02T11:00:00.000Z' });
    expect(await repo.update(c.id, 1, person(1), by)).toBeNull();
    expect(await repo.update(999, 1, person(1), by)).toBeNull();
    expect(await repo.get(c.id)).toEqual(first);
  });

  it('refuses a taken reference on insert and update, changing nothing', async () => {
    const a = await repo.insert(person(1), by);
    const b = await repo.insert(person(2), by);
    await expect(repo.insert(person(3, { customerRef: 'R-001' }), by)).rejects.toBeInstanceOf(CustomerRefTakenError);
    await expect(repo.update(b.id, 1, person(2, { customerRef: 'R-001' }), by)).rejects.toBeInstanceOf(
      CustomerRefTakenError,
    );
    expect(await repo.get(b.id)).toEqual(b);
    expect(await repo.get(a.id)).toEqual(a);
    expect(db.prepare('SELECT count(*) AS n FROM customers').get()).toEqual({ n: 2 });
  });

  it('finds possible duplicates by folded name and birth date, reference, e-mail or mobile, leaving out the record itself', async () => {
    const a = await repo.insert(person(1, { fullName: 'Jürgen Groß' }), by);
    await repo.insert(person(2), by);
    const probe = { fullName: 'JURGEN  gross', birthDate: null, customerRef: null, email: null, mobile: null };
    expect(await repo.possibleDuplicates(probe, null, 10)).toEqual([]);
    // NFKD folding keeps ß (it has no decomposition): "Groß" and "Gross" are different keys.
    expect(
      await repo.possibleDuplicates({ ...probe, fullName: 'JÜRGEN groß', birthDate: a.birthDate }, null, 10),
    ).toEqual([a]);
    expect(await repo.possibleDuplicates({ ...probe, email: 'P1@EXAMPLE.ORG' }, null, 10)).toEqual([a]);
    expect(await repo.possibleDuplicates({ ...probe, mobile: a.mobile }, null, 10)).toEqual([a]);
    expect(await repo.possibleDuplicates({ ...probe, customerRef: 'R-001' }, null, 10)).toEqual([a]);
    expect(await repo.possibleDuplicates({ ...probe, mobile: a.mobile }, a.id, 10)).toEqual([]);
  });

  it('keeps to portable SQL (docs/storage.md): no SQLite-only forms', () => {
    const source = readFileSync(resolve(__dirname, '../../../src/core/customers/customer.repository.ts'), 'utf8');
    for (const banned of [
      /INSERT OR/i,
      /\browid\b/i,
      /strftime/i,
      /datetime\(/i,
      /\bGLOB\b/,
      /\bIIF\b/,
      /NULLS (FIRST|LAST)/i,
      /COLLATE NOCASE/i,
    ])
      expect(source, String(banned)).not.toMatch(banned);
    const history = readFileSync(
      resolve(__dirname, '../../../src/core/customers/customer-history.repository.ts'),
      'utf8',
    );
    expect(history).not.toMatch(/rowid|strftime|datetime\(|GLOB|IIF/i);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditService } from '../../../src/core/audit/audit.service';
import { SqliteCardRepository } from '../../../src/core/cards/card.repository';
import type { Result } from '../../../src/shared/contract';
import type { CustomerInput, CustomerSaveOutcome } from '../../../src/shared/contract/customers.contract';
import { ADA, GRACE } from '../../support/customers';
import { freshSqliteWorkstation } from '../../support/fresh-workstation';
import { addOperator, auditRows, setupOfficer, value, type TestOperator } from '../../support/operators';

// The customer service through the router of a real workstation: contract validation, roles,
// the service and SQLite, as a desk calls them.

type Saved = Extract<CustomerSaveOutcome, { status: 'saved' }>;

describe('customers service', () => {
  let t: ReturnType<typeof freshSqliteWorkstation>;
  let clerk: TestOperator;
  const call = (op: TestOperator, channel: string, input: unknown) =>
    t.ws.router.dispatch(op.client, channel, input) as Promise<Result<CustomerSaveOutcome>>;
  const create = async (customer: CustomerInput, confirmDuplicates = false) =>
    value(await call(clerk, 'customers:create', { customer, confirmDuplicates }));
  const created = async (customer: CustomerInput) => {
    const out = await create(customer);
    if (out.status !== 'saved') throw new Error(`expected a save, got ${out.status}`);
    return out.customer;
  };
  const search = async (input: Record<string, unknown>) =>
    value(await t.ws.router.dispatch(clerk.client, 'customers:search', input)) as {
      total: number;
      customers: { id: number; fullName: string; cards: number }[];
    };
  const customerRows = () => t.ws.db.prepare('SELECT * FROM customers ORDER BY id').all();

  beforeEach(async () => {
    t = freshSqliteWorkstation();
    await setupOfficer(t.ws);
    clerk = await addOperator(t.ws, 'clerk');
  });
  afterEach(async () => {
    await t.dispose();
  });

  describe('create and validation', () => {
    it('creates a customer with normalised contacts and audits the field names, never the values', async () => {
      const c = await created(ADA);
      expect(c).toMatchObject({
        fullName: 'Ada Lovelace',
        mobile: '+447700900001',
        address: { line2: null, country: 'GB' },
        version: 1,
        createdBy: clerk.username,
      });
      const entry = (await auditRows(t.ws)).find((r) => r.action === 'customer.create')!;
      expect(entry).toMatchObject({ outcome: 'ok', object: `customer:${c.id}`, operator: clerk.username });
      expect((JSON.parse(entry.details) as { fields: string }).fields).toBe(
        'fullName,birthDate,customerRef,address.line1,address.postalCode,address.city,address.country,email,mobile,branch',
      );
      for (const personal of ['Ada', 'Lovelace', '1985', 'C-1001', 'London', 'ada@', '7700', 'SW1Y'])
        expect(entry.details).not.toContain(personal);
    });

    it.each([
      ['a missing name', { fullName: '  ' }, 'customer.fullName'],
      ['an impossible date', { birthDate: '1985-02-30' }, 'customer.birthDate'],
      ['a birth date in the future', { birthDate: '2999-01-01' }, 'customer.birthDate'],
      ['neither birth date nor reference', { birthDate: '', customerRef: '' }, 'customer.birthDate'],
      ['a national mobile number', { mobile: '07700 900001' }, 'customer.mobile'],
      ['a malformed e-mail', { email: 'ada at example' }, 'customer.email'],
      ['an unknown country', { address: { ...ADA.address, country: 'XX' } }, 'customer.address.country'],
      ['a missing city', { address: { ...ADA.address, city: '' } }, 'customer.address.city'],
      ['a missing branch', { branch: '' }, 'customer.branch'],
    ])('refuses %s with a field error, saving nothing', async (_, change, field) => {
      const r = await call(clerk, 'customers:create', { customer: { ...ADA, ...change } });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe('VALIDATION');
        expect(Object.keys(r.error.fields ?? {})).toContain(field);
      }
      expect(customerRows()).toEqual([]);
    });

    it('accepts a customer with a reference and no birth date, and one with a birth date and no reference', async () => {
      await created({ ...ADA, birthDate: '' });
      await created({ ...GRACE, customerRef: '' });
      expect(customerRows()).toHaveLength(2);
    });
  });

  describe('duplicate warning', () => {
    it.each([
      [
        'same folded name and birth date',
        { ...GRACE, fullName: 'ADA  lovelace', birthDate: ADA.birthDate },
        'name-and-birth-date',
      ],
      ['same e-mail, other case', { ...GRACE, email: 'ADA@Example.org' }, 'email'],
      ['same mobile, typed differently', { ...GRACE, mobile: '+44 (7700) 900-001' }, 'mobile'],
    ] as const)('%s: answers the candidate and saves nothing until confirmed', async (_, again, reason) => {
      const ada = await created(ADA);
      const before = customerRows();
      const warned = await create(again);
      expect(warned).toEqual({
        status: 'possible-duplicates',
        candidates: [expect.objectContaining({ id: ada.id, fullName: 'Ada Lovelace', reasons: [reason] })],
      });
      expect(customerRows()).toEqual(before);
      const warning = (await auditRows(t.ws)).at(-1)!;
      expect(warning).toMatchObject({ action: 'customer.duplicateWarning', outcome: 'ok' });
      expect(JSON.parse(warning.details)).toMatchObject({ for: 'create', candidates: `customer:${ada.id}` });

      const confirmed = await create(again, true);
      expect(confirmed.status).toBe('saved');
      expect(customerRows()).toHaveLength(2);
      const entry = (await auditRows(t.ws)).at(-1)!;
      expect(entry.action).toBe('customer.create');
      expect(JSON.parse(entry.details)).toMatchObject({ duplicatesConfirmed: `customer:${ada.id}` });
    });

    it('the same name with another birth date is no duplicate', async () => {
      await created(ADA);
      expect((await create({ ...GRACE, fullName: 'Ada Lovelace', birthDate: '1990-01-01' })).status).toBe('saved');
    });

    it('refuses a taken customer reference outright, even when the operator confirms', async () => {
      const ada = await created(ADA);
      const before = customerRows();
      for (const confirmDuplicates of [false, true]) {
        const r = await call(clerk, 'customers:create', {
          customer: { ...GRACE, customerRef: 'C-1001' },
          confirmDuplicates,
        });
        expect(r).toMatchObject({ ok: false, error: { code: 'CUSTOMER_REF_TAKEN' } });
        if (!r.ok) expect(r.error.message).toContain(`#${ada.id}`);
      }
      expect(customerRows()).toEqual(before);
      expect((await auditRows(t.ws)).at(-1)).toMatchObject({ action: 'customer.create', outcome: 'denied' });
    });

    it('on edit, warns only about what the edit changes', async () => {
      const ada = await created(ADA);
      const grace = await created(GRACE);
      // Grace's address changes: nothing identifying changed, no warning.
      const moved = value(
        await call(clerk, 'customers:update', {
          id: grace.id,
          version: 1,
          customer: { ...GRACE, address: { ...GRACE.address, city: 'Arlington' } },
        }),
      ) as Saved;
      expect(moved).toMatchObject({ status: 'saved', changed: ['address.city'] });
      // Grace takes Ada's mobile: warned, nothing changed.
      const before = customerRows();
      const warned = value(
        await call(clerk, 'customers:update', {
          id: grace.id,
          version: 2,
          customer: { ...GRACE, address: { ...GRACE.address, city: 'Arlington' }, mobile: ADA.mobile },
        }),
      );
      expect(warned).toMatchObject({
        status: 'possible-duplicates',
        candidates: [{ id: ada.id, reasons: ['mobile'] }],
      });
      expect(customerRows()).toEqual(before);
      // Taking Ada's reference is refused outright.
      const ref = await call(clerk, 'customers:update', {
        id: grace.id,
        version: 2,
        customer: { ...GRACE, customerRef: ADA.customerRef },
        confirmDuplicates: true,
      });
      expect(ref).toMatchObject({ ok: false, error: { code: 'CUSTOMER_REF_TAKEN' } });
      expect(customerRows()).toEqual(before);
    });
  });

  describe('update', () => {
    it('saves as of the version seen, bumps it, and audits which fields changed', async () => {
      const ada = await created(ADA);
      const out = value(
        await call(clerk, 'customers:update', {
          id: ada.id,
          version: 1,
          customer: { ...ADA, email: 'ada@analytical.example', address: { ...ADA.address, line2: 'Flat 2' } },
        }),
      ) as Saved;
      expect(out.changed).toEqual(['address.line2', 'email']);
      expect(out.customer).toMatchObject({ version: 2, email: 'ada@analytical.example' });
      const entry = (await auditRows(t.ws)).at(-1)!;
      expect(entry).toMatchObject({ action: 'customer.update', object: `customer:${ada.id}`, outcome: 'ok' });
      expect(JSON.parse(entry.details)).toEqual({ fields: 'address.line2,email', fromVersion: 1, toVersion: 2 });
      expect(entry.details).not.toContain('analytical');
    });

    it('refuses a stale edit with a clear message and changes nothing', async () => {
      const ada = await created(ADA);
      value(await call(clerk, 'customers:update', { id: ada.id, version: 1, customer: { ...ADA, branch: 'Bath' } }));
      const before = customerRows();
      const stale = await call(clerk, 'customers:update', {
        id: ada.id,
        version: 1,
        customer: { ...ADA, email: 'late@example.org' },
      });
      expect(stale).toMatchObject({ ok: false, error: { code: 'CUSTOMER_STALE' } });
      if (!stale.ok) expect(stale.error.message).toMatch(/changed this customer.*Reload.*nothing was saved/);
      expect(customerRows()).toEqual(before);
      expect((await auditRows(t.ws)).at(-1)).toMatchObject({ action: 'customer.update', outcome: 'denied' });
    });

    it('an edit that changes nothing writes nothing', async () => {
      const ada = await created(ADA);
      const out = value(await call(clerk, 'customers:update', { id: ada.id, version: 1, customer: ADA })) as Saved;
      expect(out).toMatchObject({ changed: [], customer: { version: 1 } });
    });

    it('answers an unknown customer with a clear error', async () => {
      const r = await call(clerk, 'customers:update', { id: 999, version: 1, customer: ADA });
      expect(r).toMatchObject({ ok: false, error: { code: 'CUSTOMER_NOT_FOUND' } });
      expect((await auditRows(t.ws)).at(-1)).toMatchObject({
        action: 'customer.update',
        object: 'customer:999',
        outcome: 'denied',
      });
    });
  });

  describe('search', () => {
    beforeEach(async () => {
      await created(ADA);
      await created(GRACE);
      await created({ ...GRACE, fullName: 'Zoë Adams-Smith', customerRef: 'C-3003', email: null, mobile: null });
      await created({ ...GRACE, fullName: 'Émile Zola', customerRef: 'Z_1', email: null, mobile: null });
    });
    const names = async (input: Record<string, unknown>) =>
      (await search({ ...input, sort: 'name' })).customers.map((c) => c.fullName);

    it.each([
      ['a prefix of the name or of a word in it', 'ada', ['Ada Lovelace', 'Zoë Adams-Smith']],
      ['a word after a hyphen', 'smith', ['Zoë Adams-Smith']],
      ['a word inside the name', 'hopper', ['Grace Brewster Hopper']],
      ['words in any order', 'hopper grace', ['Grace Brewster Hopper']],
      ['folded case and accents', 'ZOE', ['Zoë Adams-Smith']],
      ['an accented query', 'émile', ['Émile Zola']],
      ['the prefix of an inner word', 'brew', ['Grace Brewster Hopper']],
      ['no match', 'turing', []],
      ['a LIKE wildcard taken literally', '%', []],
      ['an underscore taken literally', 'a_a', []],
    ])('by name: %s', async (_, query, expected) => {
      expect(await names({ query, field: 'name' })).toEqual(expected);
    });

    it('by reference (exact), card id and N (joining cards), and any of them at once', async () => {
      const ada = (await search({ query: 'ada', field: 'name' })).customers[0]!;
      const cards = new SqliteCardRepository(t.ws.db);
      await cards.insert(
        { cardId: '0A0B0C0D', customerId: ada.id, n: '12345678901K', sealMode: 'card-key' },
        { operator: 'x', at: '2026-12-02T10:00:00.000Z' },
      );
      expect(await names({ query: 'C-2002', field: 'customerRef' })).toEqual(['Grace Brewster Hopper']);
      expect(await names({ query: 'C-20', field: 'customerRef' })).toEqual([]);
      expect(await names({ query: 'Z_1', field: 'customerRef' })).toEqual(['Émile Zola']);
      expect(await names({ query: '0a0b 0c0d', field: 'cardId' })).toEqual(['Ada Lovelace']);
      expect(await names({ query: '12345678901k', field: 'n' })).toEqual(['Ada Lovelace']);
      expect(await names({ query: '12345678901K', field: 'cardId' })).toEqual([]);
      expect(await names({ query: '0A0B0C0D' })).toEqual(['Ada Lovelace']);
      expect(await names({ query: 'C-3003' })).toEqual(['Zoë Adams-Smith']);
      expect(await names({ query: 'zola' })).toEqual(['Émile Zola']);
      expect((await search({ query: 'ada' })).customers[0]).toMatchObject({ cards: 1 });
    });

    it('pages and sorts on the server, with a stable order', async () => {
      const all = await search({ sort: 'name', direction: 'asc' });
      expect(all.total).toBe(4);
      expect(all.customers.map((c) => c.fullName)).toEqual([
        'Ada Lovelace',
        'Émile Zola',
        'Grace Brewster Hopper',
        'Zoë Adams-Smith',
      ]);
      const p1 = await search({ sort: 'name', direction: 'desc', pageSize: 3, page: 1 });
      const p2 = await search({ sort: 'name', direction: 'desc', pageSize: 3, page: 2 });
      expect(p1.total).toBe(4);
      expect([...p1.customers, ...p2.customers].map((c) => c.fullName)).toEqual(
        all.customers.map((c) => c.fullName).reverse(),
      );
      const byBirth = await search({ sort: 'birthDate', direction: 'asc' });
      expect(byBirth.customers.map((c) => c.fullName)[0]).not.toBe('Ada Lovelace');
    });
  });

  describe('roles', () => {
    it('lets an auditor read but not write, and a security officer neither', async () => {
      const ada = await created(ADA);
      const auditor = await addOperator(t.ws, 'auditor');
      expect((await t.ws.router.dispatch(auditor.client, 'customers:get', { id: ada.id })).ok).toBe(true);
      expect((await t.ws.router.dispatch(auditor.client, 'customers:search', {})).ok).toBe(true);
      const before = customerRows();
      expect(await call(auditor, 'customers:create', { customer: GRACE })).toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
      expect(
        await call(auditor, 'customers:update', { id: ada.id, version: 1, customer: { ...ADA, branch: 'x' } }),
      ).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
      const officer = { client: 'officer-desk' } as TestOperator;
      expect(await call(officer, 'customers:search', {})).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
      expect(customerRows()).toEqual(before);
      for (const role of ['manager', 'support'] as const) {
        const op = await addOperator(t.ws, role);
        expect((await call(op, 'customers:search', {})).ok).toBe(true);
      }
    });
  });

  describe('the customer page', () => {
    it('shows the cards and the history of the customer and their cards, nobody else’s', async () => {
      const ada = await created(ADA);
      const grace = await created(GRACE);
      value(await call(clerk, 'customers:update', { id: ada.id, version: 1, customer: { ...ADA, branch: 'Bath' } }));
      const cards = new SqliteCardRepository(t.ws.db);
      await cards.insert(
        { cardId: 'CAFE01', customerId: ada.id, n: 'N-77', sealMode: 'card-key' },
        { operator: clerk.username, at: '2026-12-02T10:00:00.000Z' },
      );
      // Card workflows audit under the card's id or N; the keystore names a card key by its bare N.
      const audit = new AuditService(t.ws.db);
      const actor = { operatorId: clerk.id, operator: clerk.username, role: clerk.role };
      audit.appendSync({ ...actor, action: 'enrollment.bind', object: 'card:CAFE01', outcome: 'ok' });
      audit.appendSync({ ...actor, action: 'keystore.cardKey', object: 'N-77', outcome: 'ok' });
      audit.appendSync({ ...actor, action: 'enrollment.bind', object: 'card:BEEF02', outcome: 'ok' });
      const page = value(await t.ws.router.dispatch(clerk.client, 'customers:get', { id: ada.id })) as {
        customer: { id: number; version: number };
        cards: { cardId: string; n: string; state: string }[];
        history: { action: string; object: string }[];
      };
      expect(page.customer).toMatchObject({ id: ada.id, version: 2 });
      expect(page.cards).toEqual([expect.objectContaining({ cardId: 'CAFE01', n: 'N-77', state: 'enrolling' })]);
      expect(page.history.map((h) => [h.action, h.object])).toEqual([
        ['keystore.cardKey', 'N-77'],
        ['enrollment.bind', 'card:CAFE01'],
        ['customer.update', `customer:${ada.id}`],
        ['customer.create', `customer:${ada.id}`],
      ]);
      const other = value(await t.ws.router.dispatch(clerk.client, 'customers:get', { id: grace.id })) as {
        history: { object: string }[];
      };
      expect(other.history.map((h) => h.object)).toEqual([`customer:${grace.id}`]);
    });
  });
});

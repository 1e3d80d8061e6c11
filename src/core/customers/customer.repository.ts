import type { Database } from '../db/database';

// Customers as the card workflows read them (migration 0006). The interface is async and each
// changing method is one transaction with no await inside it, so a PostgreSQL implementation can
// stand behind it unchanged (docs/storage.md).

export interface PostalAddress {
  readonly line1: string;
  readonly line2: string | null;
  readonly postalCode: string;
  readonly city: string;
  readonly country: string;
}

export interface NewCustomer {
  readonly customerRef: string | null;
  readonly fullName: string;
  /** YYYY-MM-DD; a customer has a reference, a birth date, or both. */
  readonly birthDate: string | null;
  readonly address: PostalAddress;
  /** Registered second contacts (reissue sends the out-of-band passkey there). */
  readonly email: string | null;
  readonly mobile: string | null;
  readonly branch: string;
}

export interface CustomerRecord extends NewCustomer {
  readonly id: number;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly updatedAt: string;
  readonly version: number;
}

export const CUSTOMER_SORT_KEYS = ['name', 'birthDate', 'customerRef', 'city', 'branch', 'updatedAt'] as const;
export type CustomerSortKey = (typeof CUSTOMER_SORT_KEYS)[number];

/**
 * A search: every condition given must hold. `nameWords` are already folded (nameKey): each must
 * begin the name or one of its words. With `anyOf`, the record matches if its name does OR its
 * reference, one of its card ids or one of its Ns equals the given value.
 */
export interface CustomerQuery {
  readonly nameWords?: readonly string[];
  readonly customerRef?: string;
  readonly cardId?: string;
  readonly n?: string;
  readonly anyOf?: boolean;
  readonly sort: CustomerSortKey;
  readonly direction: 'asc' | 'desc';
  readonly limit: number;
  readonly offset: number;
}

export interface CustomerListItem {
  readonly id: number;
  readonly fullName: string;
  readonly birthDate: string | null;
  readonly customerRef: string | null;
  readonly city: string;
  readonly branch: string;
  /** How many cards are bound to the customer. */
  readonly cards: number;
  readonly updatedAt: string;
}

export interface DuplicateProbe {
  readonly fullName: string;
  readonly birthDate: string | null;
  readonly customerRef: string | null;
  readonly email: string | null;
  readonly mobile: string | null;
}

export interface CustomerRepository {
  get(id: number): Promise<CustomerRecord | null>;
  /** Throws `CustomerRefTakenError` when another customer has the reference. */
  insert(customer: NewCustomer, by: { operator: string; at: string }): Promise<CustomerRecord>;
  /**
   * Replaces the record only if it is still at `expectedVersion` (compare-and-set), bumping the
   * version: the new record, or null when another desk changed it first or it does not exist.
   * Throws `CustomerRefTakenError` when another customer has the reference.
   */
  update(
    id: number,
    expectedVersion: number,
    customer: NewCustomer,
    by: { operator: string; at: string },
  ): Promise<CustomerRecord | null>;
  search(query: CustomerQuery): Promise<{ total: number; rows: CustomerListItem[] }>;
  /**
   * Customers that may be the same person as `probe`: same folded name and birth date, same
   * reference, same e-mail (case-folded) or same mobile. `excludeId` leaves out the record being edited.
   */
  possibleDuplicates(probe: DuplicateProbe, excludeId: number | null, limit: number): Promise<CustomerRecord[]>;
}

export class CustomerRefTakenError extends Error {
  constructor() {
    super('a customer with this reference exists');
  }
}

const SORT_COLUMNS: Record<CustomerSortKey, string> = {
  name: 'name_key',
  birthDate: 'birth_date',
  customerRef: 'customer_ref',
  city: 'city',
  branch: 'branch',
  updatedAt: 'updated_at',
};

/** Escapes LIKE's wildcards; every LIKE here names the backslash as its ESCAPE. */
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Case- and accent-folded name for search and the duplicate warning. */
export function nameKey(fullName: string): string {
  return fullName.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

export interface CustomerRow {
  id: number;
  customer_ref: string | null;
  full_name: string;
  birth_date: string | null;
  address_line1: string;
  address_line2: string | null;
  postal_code: string;
  city: string;
  country: string;
  email: string | null;
  mobile: string | null;
  branch: string;
  created_at: string;
  created_by: string;
  updated_at: string;
  version: number;
}

export function customerFromRow(r: CustomerRow): CustomerRecord {
  return {
    id: r.id,
    customerRef: r.customer_ref,
    fullName: r.full_name,
    birthDate: r.birth_date,
    address: {
      line1: r.address_line1,
      line2: r.address_line2,
      postalCode: r.postal_code,
      city: r.city,
      country: r.country,
    },
    email: r.email,
    mobile: r.mobile,
    branch: r.branch,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

/** The statements of `search`, with their parameters (both engines run them). */
export function customerSearchSql(q: CustomerQuery): {
  count: string;
  page: string;
  params: unknown[];
  pageParams: unknown[];
} {
  const conditions: string[] = [];
  const params: unknown[] = [];
  if (q.nameWords && q.nameWords.length > 0) {
    // Each word begins the folded name or one of its words (name_key is single-spaced; a hyphen
    // starts a word too, as in double-barrelled names).
    const words = q.nameWords.map((w) => {
      const e = likeEscape(w);
      params.push(`${e}%`, `% ${e}%`, `%-${e}%`);
      return "(name_key LIKE ? ESCAPE '\\' OR name_key LIKE ? ESCAPE '\\' OR name_key LIKE ? ESCAPE '\\')";
    });
    conditions.push(`(${words.join(' AND ')})`);
  }
  if (q.customerRef !== undefined) {
    conditions.push('customer_ref = ?');
    params.push(q.customerRef);
  }
  if (q.cardId !== undefined) {
    conditions.push('id IN (SELECT customer_id FROM cards WHERE card_id = ?)');
    params.push(q.cardId);
  }
  if (q.n !== undefined) {
    conditions.push('id IN (SELECT customer_id FROM cards WHERE n = ?)');
    params.push(q.n);
  }
  const where = conditions.length ? `WHERE ${conditions.join(q.anyOf ? ' OR ' : ' AND ')}` : '';
  const column = SORT_COLUMNS[q.sort];
  const dir = q.direction === 'desc' ? 'DESC' : 'ASC';
  return {
    count: `SELECT count(*) AS n FROM customers ${where}`,
    // Empty values sort last either way, as both engines agree only when told; id breaks ties so
    // pages never overlap.
    page: `SELECT id, full_name, birth_date, customer_ref, city, branch, updated_at,
           (SELECT count(*) FROM cards WHERE cards.customer_id = customers.id) AS cards
         FROM customers ${where}
         ORDER BY CASE WHEN ${column} IS NULL THEN 1 ELSE 0 END, ${column} ${dir}, id ${dir}
         LIMIT ? OFFSET ?`,
    params,
    pageParams: [...params, q.limit, q.offset],
  };
}

/** The statement of `possibleDuplicates` with its parameters; null when the probe has nothing to match. */
export function customerDuplicatesSql(
  p: DuplicateProbe,
  excludeId: number | null,
  limit: number,
): { sql: string; params: unknown[] } | null {
  const alternatives: string[] = [];
  const params: unknown[] = [];
  if (p.birthDate) {
    alternatives.push('(name_key = ? AND birth_date = ?)');
    params.push(nameKey(p.fullName), p.birthDate);
  }
  if (p.customerRef) {
    alternatives.push('customer_ref = ?');
    params.push(p.customerRef);
  }
  if (p.email) {
    alternatives.push('lower(email) = ?');
    params.push(p.email.toLowerCase());
  }
  if (p.mobile) {
    alternatives.push('mobile = ?');
    params.push(p.mobile);
  }
  if (alternatives.length === 0) return null;
  return {
    sql: `SELECT * FROM customers WHERE (${alternatives.join(' OR ')}) AND id <> ? ORDER BY id LIMIT ?`,
    params: [...params, excludeId ?? 0, limit],
  };
}

export const INSERT_CUSTOMER_SQL = `INSERT INTO customers (customer_ref, full_name, name_key, birth_date, address_line1,
   address_line2, postal_code, city, country, email, mobile, branch, created_at, created_by, updated_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
 RETURNING *`;
export const UPDATE_CUSTOMER_SQL = `UPDATE customers SET customer_ref = ?, full_name = ?, name_key = ?, birth_date = ?,
   address_line1 = ?, address_line2 = ?, postal_code = ?, city = ?, country = ?, email = ?, mobile = ?, branch = ?,
   updated_at = ?, version = version + 1
 WHERE id = ? AND version = ?
 RETURNING *`;

export interface CustomerListRow {
  id: number;
  full_name: string;
  birth_date: string | null;
  customer_ref: string | null;
  city: string;
  branch: string;
  cards: number;
  updated_at: string;
}

export const customerListItem = (r: CustomerListRow): CustomerListItem => ({
  id: r.id,
  fullName: r.full_name,
  birthDate: r.birth_date,
  customerRef: r.customer_ref,
  city: r.city,
  branch: r.branch,
  cards: r.cards,
  updatedAt: r.updated_at,
});

const isRefTaken = (err: unknown) =>
  err instanceof Error && err.message.includes('UNIQUE') && err.message.includes('customers.customer_ref');

export function customerParams(c: NewCustomer): unknown[] {
  return [
    c.customerRef,
    c.fullName,
    nameKey(c.fullName),
    c.birthDate,
    c.address.line1,
    c.address.line2,
    c.address.postalCode,
    c.address.city,
    c.address.country,
    c.email,
    c.mobile,
    c.branch,
  ];
}

export class SqliteCustomerRepository implements CustomerRepository {
  constructor(private readonly db: Database) {}

  async get(id: number): Promise<CustomerRecord | null> {
    const row = this.db.prepare<[number], CustomerRow>('SELECT * FROM customers WHERE id = ?').get(id);
    return row ? customerFromRow(row) : null;
  }

  async insert(c: NewCustomer, by: { operator: string; at: string }): Promise<CustomerRecord> {
    try {
      const row = this.db
        .prepare<unknown[], CustomerRow>(INSERT_CUSTOMER_SQL)
        .get(...customerParams(c), by.at, by.operator, by.at);
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return customerFromRow(row);
    } catch (err) {
      if (isRefTaken(err)) throw new CustomerRefTakenError();
      throw err;
    }
  }

  async update(
    id: number,
    expectedVersion: number,
    c: NewCustomer,
    by: { operator: string; at: string },
  ): Promise<CustomerRecord | null> {
    // One statement: the version check and the write cannot be split by another desk's edit.
    try {
      const row = this.db
        .prepare<unknown[], CustomerRow>(UPDATE_CUSTOMER_SQL)
        .get(...customerParams(c), by.at, id, expectedVersion);
      return row ? customerFromRow(row) : null;
    } catch (err) {
      if (isRefTaken(err)) throw new CustomerRefTakenError();
      throw err;
    }
  }

  async search(q: CustomerQuery): Promise<{ total: number; rows: CustomerListItem[] }> {
    const sql = customerSearchSql(q);
    const total = this.db.prepare<unknown[], { n: number }>(sql.count).get(...sql.params);
    const rows = this.db.prepare<unknown[], CustomerListRow>(sql.page).all(...sql.pageParams);
    return { total: total?.n ?? 0, rows: rows.map(customerListItem) };
  }

  async possibleDuplicates(p: DuplicateProbe, excludeId: number | null, limit: number): Promise<CustomerRecord[]> {
    const sql = customerDuplicatesSql(p, excludeId, limit);
    if (!sql) return [];
    return this.db
      .prepare<unknown[], CustomerRow>(sql.sql)
      .all(...sql.params)
      .map(customerFromRow);
  }
}

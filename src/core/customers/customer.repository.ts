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

export interface CustomerRepository {
  get(id: number): Promise<CustomerRecord | null>;
  insert(customer: NewCustomer, by: { operator: string; at: string }): Promise<CustomerRecord>;
}

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

export class SqliteCustomerRepository implements CustomerRepository {
  constructor(private readonly db: Database) {}

  async get(id: number): Promise<CustomerRecord | null> {
    const row = this.db.prepare<[number], CustomerRow>('SELECT * FROM customers WHERE id = ?').get(id);
    return row ? customerFromRow(row) : null;
  }

  async insert(c: NewCustomer, by: { operator: string; at: string }): Promise<CustomerRecord> {
    const row = this.db
      .prepare<unknown[], CustomerRow>(
        `INSERT INTO customers (customer_ref, full_name, name_key, birth_date, address_line1, address_line2,
           postal_code, city, country, email, mobile, branch, created_at, created_by, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING *`,
      )
      .get(
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
        by.at,
        by.operator,
        by.at,
      );
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return customerFromRow(row);
  }
}
